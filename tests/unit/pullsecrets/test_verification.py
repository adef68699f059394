"""Verification rules: which logins, which hosts, how long a verdict holds, what it changes."""

import datetime

import pytest

from cheiron.api.models import (
    ClusterImagePullSecretManagerSpec,
    ImagePullSecretManagerSpec,
    Verification,
)
from cheiron.api.observed import ManagerInfo, ManagerKind, digest
from cheiron.api.sources import Verdict, VerificationResult
from cheiron.dockerconfig import AuthEntry, DockerConfig
from cheiron.fsm import manager as machine
from cheiron.pullsecrets.entries import EntryOutcome
from cheiron.pullsecrets.status import entry_rows, summary
from cheiron.pullsecrets.verification import (
    CREDENTIALS_REJECTED,
    MAX_LOGINS,
    VerifyPolicy,
    changed,
    combined,
    logins,
    outcome_with,
    recorded_verdict,
    rejected_written,
)

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC)
ENTRY = {"name": "a", "registry": "ghcr.io", "username": "u", "password": "p"}
NEW = DockerConfig.single("ghcr.io", "u", "new-password").to_json()
OLD = DockerConfig.single("ghcr.io", "u", "old-password").to_json()
V, R, U, S = (
    VerificationResult.VERIFIED,
    VerificationResult.REJECTED,
    VerificationResult.UNREACHABLE,
    VerificationResult.SKIPPED,
)


def _manager(kind: ManagerKind) -> ManagerInfo:
    if kind is ManagerKind.CLUSTER:
        spec = ClusterImagePullSecretManagerSpec.model_validate({"secrets": [ENTRY]})
        return ManagerInfo(kind, "m", None, "uid", 1, spec)
    spec = ImagePullSecretManagerSpec.model_validate({"secrets": [ENTRY]})
    return ManagerInfo(kind, "m", "team", "uid", 1, spec)


def _verdict(result: VerificationResult, message: str = "") -> Verdict:
    return Verdict(result, NOW, message or f"said {result}")


def test_the_mode_defaults_to_warn_and_is_part_of_the_schema() -> None:
    spec = ImagePullSecretManagerSpec.model_validate({"secrets": [ENTRY]})
    assert spec.verification is Verification.WARN
    strict = ImagePullSecretManagerSpec.model_validate(
        {"secrets": [ENTRY], "verification": "Enforce"}
    )
    assert strict.verification is Verification.ENFORCE
    with pytest.raises(ValueError, match="verification"):
        ImagePullSecretManagerSpec.model_validate({"secrets": [ENTRY], "verification": "Always"})


@pytest.mark.parametrize(
    ("registry", "host"),
    [
        ("https://index.docker.io/v1/", "docker.io"),
        ("ghcr.io", "ghcr.io"),
        ("registry.example.com:5000/team/app", "registry.example.com:5000"),
        ("127.0.0.1:5000", "127.0.0.1:5000"),
    ],
)
def test_a_login_is_asked_of_the_registry_host(registry: str, host: str) -> None:
    payload = DockerConfig.single(registry, "u", "pw-4711").to_json()
    (login,) = logins(payload, VerifyPolicy())
    assert (login.host, login.username, login.password) == (host, "u", "pw-4711")
    assert "pw-4711" not in repr(login)


def test_logins_are_one_per_credentials_and_capped() -> None:
    auths = {f"r{i}.example.com": AuthEntry.from_credentials("u", f"p{i}") for i in range(20)}
    # Two paths of one host with the same credentials are one question.
    auths["r0.example.com/team"] = AuthEntry.from_credentials("u", "p0")
    payload = DockerConfig(auths).to_json()
    found = logins(payload, VerifyPolicy())
    assert len(found) == MAX_LOGINS
    assert len({login.key for login in found}) == MAX_LOGINS
    assert logins(b"not json", VerifyPolicy()) == ()


def test_insecure_hosts_are_marked_by_pattern() -> None:
    policy = VerifyPolicy(insecure_hosts=("127.0.0.1:*",))
    payload = DockerConfig.single("127.0.0.1:5000", "u", "p").to_json()
    assert logins(payload, policy)[0].insecure
    assert not logins(NEW, policy)[0].insecure


def test_namespaced_managers_reach_only_listed_hosts() -> None:
    namespaced, cluster = _manager(ManagerKind.NAMESPACED), _manager(ManagerKind.CLUSTER)
    open_policy = VerifyPolicy()
    refused = open_policy.refusal(namespaced, "10.0.0.1:22")
    assert refused is not None
    assert "--verify-host" in refused
    assert open_policy.refusal(cluster, "10.0.0.1:22") is None
    listed = VerifyPolicy(hosts=("*.example.com", "127.0.0.1:*"), listed_only=True)
    assert listed.refusal(namespaced, "registry.example.com") is None
    assert listed.refusal(namespaced, "127.0.0.1:5000") is None
    assert listed.refusal(cluster, "ghcr.io") is not None
    assert listed.refusal(namespaced, "example.com") is not None


def test_a_verdict_holds_for_the_interval_an_unreachable_one_less() -> None:
    policy = VerifyPolicy(interval=datetime.timedelta(hours=6))
    assert policy.due(None, NOW)
    assert policy.due(_verdict(S), NOW)
    assert not policy.due(_verdict(V), NOW + datetime.timedelta(hours=5))
    assert policy.due(_verdict(V), NOW + datetime.timedelta(hours=6))
    assert not policy.due(_verdict(R), NOW + datetime.timedelta(hours=1))
    assert policy.due(_verdict(U), NOW + datetime.timedelta(minutes=10))
    assert not policy.due(_verdict(U), NOW + datetime.timedelta(minutes=9))


def test_an_entry_gets_its_worst_logins_verdict() -> None:
    assert combined([], NOW).result is S
    assert combined([_verdict(V), _verdict(U, "down")], NOW) == Verdict(U, NOW, "down")
    mixed = combined([_verdict(U, "down"), _verdict(R, "no"), _verdict(V)], NOW)
    assert mixed.result is R
    assert mixed.message == "down; no"


def _resolved(payload: bytes = NEW) -> EntryOutcome:
    return EntryOutcome("a", True, "Resolved", payload=payload)


def test_verified_credentials_become_the_accepted_ones() -> None:
    out = outcome_with(_resolved(), _verdict(V), Verification.WARN, None, (digest(NEW), None))
    assert out.ok
    assert out.payload == NEW
    assert out.accepted_digest == digest(NEW)
    assert not rejected_written(out)


def test_a_rejected_rotation_keeps_credentials_the_registry_accepts() -> None:
    for mode in (Verification.WARN, Verification.ENFORCE):
        out = outcome_with(
            _resolved(), _verdict(R, "401"), mode, _verdict(V), (digest(NEW), digest(OLD))
        )
        assert not out.ok
        assert out.payload is None  # a failed entry's Secrets are left as they are
        assert out.reason == CREDENTIALS_REJECTED
        assert "keep the previous credentials" in out.message
        assert out.accepted_digest == digest(OLD)


def test_rejected_new_credentials_are_written_under_warn_only() -> None:
    warned = outcome_with(_resolved(), _verdict(R), Verification.WARN, None, (digest(NEW), None))
    assert warned.ok
    assert warned.payload == NEW
    assert rejected_written(warned)
    # The previous credentials are rejected too: nothing worth keeping.
    also = outcome_with(
        _resolved(), _verdict(R), Verification.WARN, _verdict(R), (digest(NEW), digest(OLD))
    )
    assert also.ok
    assert also.accepted_digest is None
    enforced = outcome_with(
        _resolved(), _verdict(R), Verification.ENFORCE, None, (digest(NEW), None)
    )
    assert not enforced.ok
    assert enforced.payload is None
    assert "Enforce" in enforced.message


@pytest.mark.parametrize("result", [U, S])
def test_unreachable_or_skipped_is_written_without_blame(result: VerificationResult) -> None:
    out = outcome_with(
        _resolved(), _verdict(result), Verification.ENFORCE, None, (digest(NEW), digest(OLD))
    )
    assert out.ok
    assert out.payload == NEW
    assert out.accepted_digest is None
    assert not rejected_written(out)


def test_status_rows_carry_the_verdict_and_read_back() -> None:
    out = outcome_with(_resolved(), _verdict(V), Verification.WARN, None, (digest(NEW), None))
    (row,) = entry_rows([out])
    assert row["verification"] == {
        "result": "Verified",
        "checkedAt": "2026-12-01T12:00:00Z",
        "message": "said Verified",
    }
    assert row["acceptedDigest"] == digest(NEW)
    assert recorded_verdict(row) == out.verification
    skipped = outcome_with(_resolved(), _verdict(S), Verification.WARN, None, (digest(NEW), None))
    (row,) = entry_rows([skipped])
    # Nothing was asked, so no time: a pass that asks nothing writes no status.
    assert "checkedAt" not in row["verification"]
    recovered = recorded_verdict(row)
    assert recovered is not None
    assert recovered.result is S
    assert recorded_verdict({}) is None
    assert recorded_verdict({"verification": {"result": "Maybe"}}) is None


def test_rejected_written_entries_leave_the_manager_degraded() -> None:
    warned = outcome_with(
        _resolved(),
        _verdict(R, "ghcr.io: invalid username/password"),
        Verification.WARN,
        None,
        (digest(NEW), None),
    )
    reason, message = summary([warned], [], [])
    assert reason == CREDENTIALS_REJECTED
    assert "entry a: written, but ghcr.io: invalid username/password" in message
    assert machine.settled_phase(machine.Progress(rejected_credentials=1)) == machine.DEGRADED


def test_an_unreachable_registry_is_a_warning_in_the_message_only() -> None:
    out = outcome_with(
        _resolved(),
        _verdict(U, "ghcr.io: connection refused"),
        Verification.WARN,
        None,
        (digest(NEW), None),
    )
    reason, message = summary([out], [], [])
    assert reason == "Reconciled"
    assert "entry a not verified (ghcr.io: connection refused)" in message


def test_events_tell_of_changes_not_repeats() -> None:
    assert changed(None, _verdict(R))
    assert changed(None, _verdict(U))
    assert not changed(None, _verdict(V))
    assert not changed(None, _verdict(S))
    assert changed(_verdict(R), _verdict(V))
    assert not changed(_verdict(R), _verdict(R, "other words"))
    assert not changed(_verdict(V), None)
