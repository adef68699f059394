"""What of the operator's environment a skopeo run inherits, and which logins it can type."""

from pathlib import Path

import pytest

from cheiron.api.sources import RegistryLogin
from cheiron.sources.skopeo import TYPED_LIMIT, environment, untypable

OPERATOR = {
    "PATH": "/usr/local/bin:/usr/bin",
    "HOME": "/home/cheiron",
    "XDG_RUNTIME_DIR": "/run/user/1000",
    "XDG_CONFIG_HOME": "/home/cheiron/.config",
    "TMPDIR": "/home/cheiron/tmp",
    "SSL_CERT_FILE": "/etc/ssl/company-ca.pem",
    "SSL_CERT_DIR": "/etc/ssl/certs",
    "HTTPS_PROXY": "http://proxy.corp:3128",
    "no_proxy": "10.0.0.0/8",
    "AWS_ACCESS_KEY_ID": "AKIA0000",
    "AWS_SECRET_ACCESS_KEY": "operator-secret",
    "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/eks/token",
    "KUBERNETES_SERVICE_HOST": "10.0.0.1",
    "DOCKER_CONFIG": "/home/cheiron/.docker",
    "REGISTRY_AUTH_FILE": "/home/cheiron/auth.json",
    "CHEIRON_VERIFY_HOSTS": "registry.corp",
}


def test_a_run_keeps_path_cas_and_proxy_and_lives_in_its_own_dir(tmp_path: Path) -> None:
    assert environment(tmp_path, OPERATOR) == {
        "PATH": "/usr/local/bin:/usr/bin",
        "SSL_CERT_FILE": "/etc/ssl/company-ca.pem",
        "SSL_CERT_DIR": "/etc/ssl/certs",
        "HTTPS_PROXY": "http://proxy.corp:3128",
        "no_proxy": "10.0.0.0/8",
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path),
        "XDG_RUNTIME_DIR": str(tmp_path),
    }


def test_without_a_path_a_run_gets_the_default_one(tmp_path: Path) -> None:
    assert environment(tmp_path, {"AWS_PROFILE": "x"}).keys() == {
        "PATH",
        "HOME",
        "TMPDIR",
        "XDG_RUNTIME_DIR",
    }


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("correct-horse \x03\x04\x15\x17\x7f\x00", None),
        ("p" * TYPED_LIMIT, None),
        ("p" * (TYPED_LIMIT + 1), "longer than"),
        ("ü" * (TYPED_LIMIT // 2 + 1), "longer than"),
        ("two\nlines", "line break"),
        ("two\rlines", "line break"),
        ("back\bspace", "backspace"),
        ("\udc80", "not valid Unicode"),
    ],
)
def test_what_can_be_typed_at_the_password_prompt(password: str, why: str | None) -> None:
    refused = untypable(RegistryLogin("r.example", "robot", password))
    if why is None:
        assert refused is None
    else:
        assert refused is not None
        assert why in refused
        assert password not in refused
