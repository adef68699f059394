"""`cheiron run` settings from CHEIRON_* variables, and the kubelet's service links that are not."""

import pytest

from cheiron.cli import build_parser


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHEIRON_METRICS_PORT", "9090")
    monkeypatch.setenv("CHEIRON_WEBHOOK_PORT", "9443")
    monkeypatch.setenv("CHEIRON_RESYNC_SECONDS", "30")
    args = build_parser().parse_args(["run"])
    assert (args.metrics_port, args.webhook_port, args.resync_seconds) == (9090, 9443, 30.0)


def test_service_links_of_services_named_like_settings_are_ignored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What the kubelet sets for Services cheiron-metrics and cheiron-webhook in the namespace.
    monkeypatch.setenv("CHEIRON_METRICS_PORT", "tcp://10.0.0.154:9090")
    monkeypatch.setenv("CHEIRON_WEBHOOK_PORT", "tcp://10.0.0.12:443")
    args = build_parser().parse_args(["run", "--metrics-port", "9090"])
    assert (args.metrics_port, args.webhook_port) == (9090, 0)


def test_a_malformed_setting_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHEIRON_METRICS_PORT", "ninety")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run"])
    assert "--metrics-port" in capsys.readouterr().err


def test_verification_settings_come_from_flags_and_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cheiron.cli import _verify_policy  # noqa: PLC0415 - the one place that builds it

    monkeypatch.setenv("CHEIRON_VERIFY_HOSTS", "ghcr.io,*.internal:5000")
    monkeypatch.setenv("CHEIRON_VERIFY_LISTED_ONLY", "true")
    args = build_parser().parse_args(["run", "--verify-host", "quay.io", "--verify-interval", "60"])
    policy = _verify_policy(args)
    assert policy.hosts == ("ghcr.io", "*.internal:5000", "quay.io")
    assert policy.listed_only
    assert policy.interval.total_seconds() == 60
    assert build_parser().parse_args(["run"]).verify_ca_file is None
