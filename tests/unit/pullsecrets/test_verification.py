"""Verification rules: which logins, which hosts, how long a verdict holds, what it changes."""

import datetime

import pytest

from cheiron.api.models import (
    ClusterImagePullSecretManagerSpec,
    ImagePullSecretManagerSpec,
    Verification,
)
from cheiron.api.observed import ManagerInfo, ManagerKind, digest
from cheiron.api.sources import RegistryLogin, Verdict, VerificationResult
from cheiron.dockerconfig import AuthEntry, DockerConfig
from cheiron.fsm import manager as machine
from cheiron.pullsecrets.entries import EntryOutcome
from cheiron.pullsecrets.status import entry_rows, summary
from cheiron.pullsecrets.verification import (
    CLUSTER_GATE,
    CREDENTIALS_REJECTED,
    FAILED_LOGIN_WINDOW,
    HOST_BACKOFF,
    MAX_LOGINS,
    UNREACHABLE_RECHECK,
    VERIFICATION_PENDING,
    Check,
    CheckBoard,
    CheckLimits,
    Pending,
    VerifyPolicy,
    changed,
    combined,
    logins,
    outcome_with,
    pending,
    recorded_verdict,
    rejected_written,
    settled,
    users,
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
    # Skipped, or not answered yet, asked nobody: a first answer that is a yes is no news.
    assert not changed(_verdict(S), _verdict(V))
    assert changed(_verdict(S), _verdict(R))


# --- no answer yet --------------------------------------------------------------------------

WAITING = pending("ghcr.io", NOW)


def test_a_rejection_is_acted_on_at_once_else_an_entry_waits_for_every_login() -> None:
    assert settled([_verdict(V), WAITING], NOW) == WAITING
    assert settled([_verdict(R, "no"), WAITING], NOW) == Verdict(R, NOW, "no")
    assert settled([_verdict(V), _verdict(U, "down")], NOW) == Verdict(U, NOW, "down")
    assert settled([], NOW).result is S
    two = settled([WAITING, pending("quay.io", NOW), WAITING], NOW)
    assert isinstance(two, Pending)
    assert two.message.count("not verified yet") == 2


def test_new_credentials_without_an_answer_are_written_under_warn() -> None:
    out = outcome_with(_resolved(), WAITING, Verification.WARN, None, (digest(NEW), None))
    assert out.ok
    assert out.payload == NEW
    assert out.accepted_digest is None
    assert out.verification is not None
    # Shown as not asked (yet): no time, so no status write per pass while it waits.
    assert out.verification.result is S
    assert "not verified yet" in out.verification.message
    (row,) = entry_rows([out])
    assert "checkedAt" not in row["verification"]


def test_enforce_writes_nothing_before_the_answer() -> None:
    out = outcome_with(_resolved(), WAITING, Verification.ENFORCE, None, (digest(NEW), None))
    assert not out.ok
    assert out.payload is None
    assert out.reason == VERIFICATION_PENDING
    assert "Enforce" in out.message


@pytest.mark.parametrize("mode", [Verification.WARN, Verification.ENFORCE])
def test_a_rotation_waits_for_the_answer_on_the_accepted_credentials(mode: Verification) -> None:
    digests = (digest(NEW), digest(OLD))
    out = outcome_with(_resolved(), WAITING, mode, _verdict(V), digests, OLD)
    # The accepted credentials stay written (in every target, new ones too) until it answers.
    assert out.ok
    assert out.payload == OLD
    assert out.accepted_digest == digest(OLD)
    assert "keep the previous credentials" in out.message
    # Without them at hand (a merged Secret), the entry fails, which leaves the Secret as is.
    merged = outcome_with(_resolved(), WAITING, mode, _verdict(V), digests, None)
    assert not merged.ok
    assert merged.payload is None
    assert merged.reason == VERIFICATION_PENDING
    assert merged.accepted_digest == digest(OLD)
    # Accepted credentials the registry now rejects are nothing to wait on.
    gone = outcome_with(_resolved(), WAITING, Verification.WARN, _verdict(R), digests, OLD)
    assert gone.ok
    assert gone.payload == NEW


def test_every_username_of_a_payload_however_many() -> None:
    auths = {f"r{i}.example.com/x": AuthEntry.from_credentials(f"u{i}", "p") for i in range(20)}
    found = users(DockerConfig(auths).to_json())
    assert len(found) == 20
    assert ("r3.example.com", "u3") in found
    assert users(b"not json") == frozenset()


# --- the board: which checks run ----------------------------------------------------------


def _login(host: str = "reg.example.com", user: str = "robot", password: str = "") -> RegistryLogin:
    return RegistryLogin(host, user, password or f"pw-{host}-{user}")


def _ask(board: CheckBoard, manager: str, *found: RegistryLogin, namespaced: bool = False) -> None:
    for login in found:
        assert board.request(login, manager, namespaced, NOW) is not None


def test_checks_per_host_and_per_manager_are_bounded() -> None:
    board = CheckBoard(CheckLimits(total=8, per_host=2, per_manager=4, per_manager_per_host=1))
    _ask(board, "a", *(_login(password=f"a{i}") for i in range(50)))
    started, answered = board.next_checks(NOW, cluster_known=True)
    # One manager never holds both of a host's slots.
    assert len(started) == 1
    assert answered == []
    _ask(board, "b", *(_login(password=f"b{i}") for i in range(50)))
    _ask(board, "c", _login(password="c0"))
    started, _ = board.next_checks(NOW, cluster_known=True)
    assert [c.owner for c in started] == ["b"]  # the host's second slot; c waits for one
    # Another host is not held up by this one.
    _ask(board, "c", _login("other.example.com"))
    started, _ = board.next_checks(NOW, cluster_known=True)
    assert [(c.owner, c.login.host) for c in started] == [("c", "other.example.com")]
    # Across hosts, one manager holds at most its share of the operator's slots.
    _ask(board, "a", *(_login(f"h{i}.example.com") for i in range(10)))
    started, _ = board.next_checks(NOW, cluster_known=True)
    assert sum(1 for c in board.running.values() if c.owner == "a") == 4
    assert len(board.running) <= 8


def test_a_freed_slot_goes_to_the_manager_with_fewest_checks_in_flight() -> None:
    board = CheckBoard(CheckLimits(total=8, per_host=2, per_manager=4, per_manager_per_host=2))
    _ask(board, "a", *(_login(password=f"a{i}") for i in range(10)))
    first, _ = board.next_checks(NOW, cluster_known=True)
    assert [c.owner for c in first] == ["a", "a"]
    _ask(board, "b", _login(password="b0"))
    board.finished(first[0], _verdict(V), NOW)
    started, _ = board.next_checks(NOW, cluster_known=True)
    assert [c.owner for c in started] == ["b"]


def test_one_question_per_credentials_whoever_asks() -> None:
    board = CheckBoard()
    login = _login()
    one = board.request(login, "a", True, NOW)
    two = board.request(login, "b", False, NOW)
    assert one is two
    assert one is not None
    assert one.requesters == {"a", "b"}
    assert not one.namespaced  # a cluster manager wants it too: no reason to wait


def test_failed_logins_per_account_are_capped_across_managers() -> None:
    board = CheckBoard(CheckLimits(per_host=8, per_manager_per_host=8, failed_logins=5))
    wrong = [_login(password=f"wrong-{i}") for i in range(12)]
    for i, login in enumerate(wrong):
        _ask(board, f"m{i}", login, namespaced=True)
    started, _ = board.next_checks(NOW, cluster_known=True)
    # Checks in flight may fail too: no more of them than the cap allows.
    assert len(started) == 5
    for check in started:
        board.finished(check, _verdict(R), NOW)
    started, answered = board.next_checks(NOW, cluster_known=True)
    assert started == []
    assert len(answered) == 7
    verdict = answered[0][1]
    assert verdict.result is S
    assert (
        verdict.message
        == "not asked: too many failed logins for robot at reg.example.com this hour"
    )
    assert board.not_asked(_login(password="new"), False, NOW) == Verdict(S, NOW, verdict.message)
    # Another account on the host, and the same one after the hour, are asked.
    assert board.not_asked(_login(user="other"), True, NOW) is None
    assert board.not_asked(_login(password="new"), True, NOW + FAILED_LOGIN_WINDOW) is None


def test_a_silent_host_is_left_alone_with_a_growing_backoff() -> None:
    board = CheckBoard()
    _ask(board, "a", *(_login(password=f"p{i}") for i in range(200)))
    (check,), _ = board.next_checks(NOW, cluster_known=True)
    board.finished(check, _verdict(U, "reg.example.com: skopeo timed out after 20s"), NOW)
    started, answered = board.next_checks(NOW, cluster_known=True)
    # The other 199 are answered without asking, not asked one after the other.
    assert started == []
    assert len(answered) == 199
    verdict = answered[0][1]
    assert verdict.result is U
    assert verdict.checked_at == NOW
    assert "not asked: reg.example.com did not answer the last check" in verdict.message
    assert "timed out" in verdict.message
    assert board.not_asked(_login("other.example.com"), False, NOW) is None
    later = NOW + HOST_BACKOFF
    assert board.not_asked(_login(password="x"), False, later) is None
    # It stays silent: twice as long, up to the recheck of an unreachable answer.
    _ask(board, "a", _login(password="x"))
    (check,), _ = board.next_checks(later, cluster_known=True)
    board.finished(check, _verdict(U, "down"), later)
    assert board.not_asked(_login(password="y"), False, later + HOST_BACKOFF) is not None
    assert board.not_asked(_login(password="y"), False, later + 2 * HOST_BACKOFF) is None
    for _ in range(20):
        board.finished(Check(_login(password="z"), "a", False), _verdict(U, "down"), NOW)
    capped = NOW + UNREACHABLE_RECHECK
    assert board.not_asked(_login(password="y"), False, capped - HOST_BACKOFF) is not None
    assert board.not_asked(_login(password="y"), False, capped) is None
    # An answer, even a no, means it is back.
    board.finished(Check(_login(password="w"), "a", False), _verdict(R), NOW)
    assert board.not_asked(_login(password="y"), False, NOW) is None


def test_tenants_are_never_verified_with_a_cluster_managers_username() -> None:
    board = CheckBoard()
    board.cluster_uses("cluster-uid", "pull", {("reg.example.com", "robot")})
    refused = board.not_asked(_login(), True, NOW)
    assert refused is not None
    assert refused.result is S
    assert "robot is a username a cluster manager uses at reg.example.com" in refused.message
    # The cluster manager itself is; so are the tenant's own usernames and other hosts.
    assert board.not_asked(_login(), False, NOW) is None
    assert board.not_asked(_login(user="tenant"), True, NOW) is None
    assert board.not_asked(_login("other.example.com"), True, NOW) is None
    # A tenant's check queued before the cluster manager told is answered, not asked.
    board = CheckBoard()
    _ask(board, "tenant", _login(), namespaced=True)
    board.cluster_uses("cluster-uid", "pull", {("reg.example.com", "robot")})
    started, answered = board.next_checks(NOW, cluster_known=True)
    assert started == []
    assert [v.result for _c, v in answered] == [S]
    board.forget("cluster", "cluster-uid")
    assert board.not_asked(_login(), True, NOW) is None


def test_tenants_checks_wait_for_the_cluster_managers_first_passes_for_a_while() -> None:
    board = CheckBoard()
    _ask(board, "tenant", _login(), namespaced=True)
    _ask(board, "cluster", _login("other.example.com"))
    started, _ = board.next_checks(NOW, cluster_known=False)
    assert [c.owner for c in started] == ["cluster"]
    assert board.waiting_for_cluster(False, NOW)
    assert board.next_checks(NOW, cluster_known=False)[0] == []
    # Known, or not known in time (a broken cluster manager stops nobody for long).
    assert [c.owner for c in board.next_checks(NOW + CLUSTER_GATE, cluster_known=False)[0]] == [
        "tenant"
    ]


def test_a_deleted_manager_leaves_the_queue() -> None:
    board = CheckBoard(CheckLimits(queued_per_manager=3))
    shared = _login(password="shared")
    _ask(board, "a", shared, _login(password="a1"), _login(password="a2"))
    assert board.request(_login(password="a3"), "a", False, NOW) is None  # a's queue is full
    _ask(board, "b", shared)
    board.forget("a", "uid-a")
    assert list(board.queued) == [shared.key]
    assert board.queued[shared.key].owner == "b"
