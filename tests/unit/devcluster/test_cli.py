"""`cheiron dev-cluster`'s options: --node and --trust-registry HOST:PORT=CA.pem."""

from pathlib import Path

import pytest

from cheiron.cli import build_parser


def test_trusted_registries_are_host_and_ca_pairs(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("pem")
    args = build_parser().parse_args(
        [
            "dev-cluster",
            "--node",
            "--kubeconfig",
            "kc",
            "--trust-registry",
            f"127.0.0.1:5443={ca}",
            "--trust-registry",
            f"localhost:5000={ca}",
        ]
    )
    assert args.node
    assert args.trust_registry == [("127.0.0.1:5443", ca), ("localhost:5000", ca)]


@pytest.mark.parametrize("value", ["127.0.0.1:5443", "=ca.pem", "127.0.0.1:5443=", "h:1=missing"])
def test_a_malformed_or_missing_ca_is_refused(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["dev-cluster", "--kubeconfig", "kc", "--trust-registry", value])
    assert exit_info.value.code == 2
    assert "--trust-registry" in capsys.readouterr().err
