"""What a skopeo run is given: its hosts' logins only, no secret in argv, no operator env.

A recording shim in front of the real skopeo keeps each run's argv, environment and
authfiles; the real skopeo then talks to a real registry.
"""

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from cheiron.api.sources import RegistryLogin, VerificationResult
from cheiron.sources import skopeo
from cheiron.sources.skopeo import CopyError, RegistryAccess, check_login
from tests.support.registry import (
    SKOPEO_ENV,
    Registry,
    SkopeoRecorder,
    SkopeoRun,
    leaky_environment,
)
from tests.support.token_auth import TokenServer

USER, PASSWORD = "alice", "correct-horse-4711"
WRONG = "wrong-password-9"

Leak = Callable[[Mapping[str, tuple[str, str]]], dict[str, str]]


@pytest.fixture
def leak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Leak:
    """Makes the test process an operator with keys and ambient logins in its environment.

    The environment holds AWS keys, unrelated settings and, in every ambient place, the given
    logins; the function returns it.

    Call it once the registries run: Distribution reads REGISTRY_* variables as its config.
    """

    def put(logins: Mapping[str, tuple[str, str]]) -> dict[str, str]:
        leaked = leaky_environment(tmp_path / "operator", logins)
        for name, value in leaked.items():
            monkeypatch.setenv(name, value)
        return leaked

    return put


def assert_sealed(run: SkopeoRun, operator: Mapping[str, str], *secrets: str) -> None:
    """No secret on the command line, only skopeo's own variables in its environment."""
    for secret in secrets:
        assert not any(secret in arg for arg in run.argv), (secret, run.argv)
    assert set(run.env) <= SKOPEO_ENV, sorted(set(run.env) - SKOPEO_ENV)
    # HOME and the runtime dir are the run's private dir, not the operator's.
    assert run.env["HOME"] == run.env["TMPDIR"] == run.env["XDG_RUNTIME_DIR"]
    assert run.env["HOME"] not in (operator["HOME"], operator["XDG_RUNTIME_DIR"])
    assert not Path(run.env["HOME"]).exists(), "the run's private dir outlived it"


def read_digest(reference: str, registries: list[RegistryAccess]) -> str | None:
    return asyncio.run(skopeo.read_digest(reference, registries))


async def test_a_login_check_has_no_username_or_password_in_argv(
    skopeo_runs: SkopeoRecorder, leak: Leak
) -> None:
    with Registry(auth=(USER, PASSWORD)) as registry:
        operator = leak({})
        good = await check_login(RegistryLogin(registry.host, USER, PASSWORD, insecure=True))
        bad = await check_login(RegistryLogin(registry.host, USER, WRONG, insecure=True))
    assert good.result is VerificationResult.VERIFIED
    assert bad.result is VerificationResult.REJECTED
    assert "invalid username/password" in bad.message
    runs = skopeo_runs.runs()
    assert [r.argv[0] for r in runs] == ["login", "login"]
    for run in runs:
        assert_sealed(run, operator, USER, PASSWORD, WRONG)
        # The username comes from the authfile; the password is typed at skopeo's prompt.
        assert run.credentials() == {registry.host: f"{USER}:"}


async def test_a_login_check_borrows_no_ambient_login(
    skopeo_runs: SkopeoRecorder, leak: Leak
) -> None:
    with TokenServer(USER, PASSWORD) as tokens, Registry(token=tokens) as registry:
        # The operator's environment knows the right password; the login checked does not.
        operator = leak({registry.host: (USER, PASSWORD), "other.example": ("bob", "b0b")})
        verdict = await check_login(RegistryLogin(registry.host, USER, WRONG, insecure=True))
    assert verdict.result is VerificationResult.REJECTED
    (run,) = skopeo_runs.runs()
    assert_sealed(run, operator, USER, PASSWORD, WRONG)
    assert run.credentials() == {registry.host: f"{USER}:"}


def test_an_inspection_borrows_no_ambient_login(skopeo_runs: SkopeoRecorder, leak: Leak) -> None:
    with Registry(auth=(USER, PASSWORD)) as registry:
        operator = leak({registry.host: (USER, PASSWORD)})
        reference = f"{registry.host}/team/app:v1"
        # Given no credentials for the host, skopeo asks anonymously and is refused
        # (the operator's login would have answered "not found").
        with pytest.raises(CopyError, match=r"(?i)unauthorized|authentication"):
            read_digest(reference, [RegistryAccess(registry.host, insecure=True)])
        # Given other ones, it sends those.
        with pytest.raises(CopyError, match=r"(?i)unauthorized|authentication"):
            read_digest(reference, [RegistryAccess(registry.host, USER, WRONG, insecure=True)])
    anonymous, wrong = skopeo_runs.runs()
    for run in (anonymous, wrong):
        assert_sealed(run, operator, USER, PASSWORD, WRONG)
    assert anonymous.credentials() == {}
    assert wrong.credentials() == {registry.host: f"{USER}:{WRONG}"}


async def test_the_system_ca_setting_reaches_skopeo(
    leak: Leak, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Registry(auth=(USER, PASSWORD), tls=True) as registry:
        assert registry.ca_path is not None
        leak({})
        # An operator image whose CA bundle is set by SSL_CERT_FILE: skopeo trusts it too.
        monkeypatch.setenv("SSL_CERT_FILE", str(registry.ca_path))
        verdict = await check_login(RegistryLogin(registry.host, USER, PASSWORD))
    assert verdict.result is VerificationResult.VERIFIED
