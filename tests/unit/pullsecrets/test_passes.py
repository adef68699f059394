"""The pass shared by the operator's passes and the dry run: Secrets, marks, status."""

import datetime

from hypothesis import given
from hypothesis import strategies as st

from cheiron.api.meta import RECONCILED, TRUE
from cheiron.api.models import (
    REFUSALS_SHOWN,
    ClusterImagePullSecretManagerSpec,
    ImagePullSecretManagerSpec,
)
from cheiron.api.observed import (
    DOCKERCONFIGJSON_TYPE,
    AccountInfo,
    ManagerInfo,
    ManagerKind,
    NamespaceInfo,
    SecretInfo,
    digest,
)
from cheiron.pullsecrets.entries import EntryOutcome
from cheiron.pullsecrets.materialise import Refusal, SecretWrites
from cheiron.pullsecrets.passes import pass_outcome, secret_pass

UID = "uid-1"
PAYLOAD = b'{"auths": {"ghcr.io": {"auth": "dTpw"}}}'
OUTCOMES = (EntryOutcome("a", True, "Resolved", payload=PAYLOAD),)
ENTRY = {"name": "a", "registry": "ghcr.io", "username": "u", "password": "p"}


def _namespaced() -> ManagerInfo:
    spec = ImagePullSecretManagerSpec.model_validate({"secrets": [ENTRY]})
    return ManagerInfo(ManagerKind.NAMESPACED, "m", "team", UID, 1, spec)


def _cluster() -> ManagerInfo:
    spec = ClusterImagePullSecretManagerSpec.model_validate({"secrets": [ENTRY]})
    return ManagerInfo(ManagerKind.CLUSTER, "m", None, UID, 1, spec)


def _ours(namespace: str, payload: bytes = PAYLOAD) -> SecretInfo:
    return SecretInfo(namespace, "a", DOCKERCONFIGJSON_TYPE, UID, digest(payload))


def test_a_namespaced_manager_never_takes_a_secret_elsewhere_for_its_own() -> None:
    namespaces = {n: NamespaceInfo(n) for n in ("team", "other")}
    one = secret_pass(_namespaced(), OUTCOMES, namespaces, [_ours("other")])
    assert one.writes.delete == ()
    assert [(d.namespace, d.name) for d in one.writes.create] == [("team", "a")]


def test_a_cluster_manager_cleans_up_where_it_no_longer_targets() -> None:
    namespaces = {"team": NamespaceInfo("team")}
    one = secret_pass(_cluster(), OUTCOMES, namespaces, [_ours("team"), _ours("gone")])
    assert [(s.namespace, s.name) for s in one.writes.delete] == [("gone", "a")]
    assert one.writes.create == one.writes.update == ()


names = st.lists(st.sampled_from(["n1", "n2", "n3", "n4"]), unique=True)


@given(targets=names, present=names, stale=names)
def test_one_namespace_at_a_time_writes_what_the_full_pass_writes_there(
    targets: list[str], present: list[str], stale: list[str]
) -> None:
    """The operator's pass over one new namespace agrees with its full pass."""
    namespaces = {n: NamespaceInfo(n) for n in targets}
    secrets = [_ours(n) for n in present] + [_ours(n, b"{}") for n in stale if n not in present]
    full = secret_pass(_cluster(), OUTCOMES, namespaces, secrets)
    for namespace in {*targets, *present, *stale}:
        one = secret_pass(
            _cluster(),
            OUTCOMES,
            {namespace: namespaces[namespace]} if namespace in namespaces else {},
            [s for s in secrets if s.namespace == namespace],
        )
        for kind in ("create", "update", "delete"):
            in_full = [x for x in getattr(full.writes, kind) if x.namespace == namespace]
            assert list(getattr(one.writes, kind)) == in_full, (kind, namespace)


class _View:
    """A ClusterView over plain lists."""

    def __init__(self, managers: list[ManagerInfo], accounts: list[AccountInfo]) -> None:
        self.managers = managers
        self.accounts = accounts
        self.namespaces = {n: NamespaceInfo(n) for n in ("team", "other")}

    def namespace_map(self) -> dict[str, NamespaceInfo]:
        return self.namespaces

    def managers_in(self, namespace: str) -> list[ManagerInfo]:
        return self.managers

    def accounts_in(self, namespace: str) -> list[AccountInfo]:
        return [a for a in self.accounts if a.namespace == namespace]

    def pods_in(self, namespace: str) -> list[AccountInfo]:
        return []


NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def test_the_pass_marks_with_the_secrets_it_writes_and_reports_ready() -> None:
    manager = _namespaced()
    view = _View([manager], [AccountInfo("team", "default", {RECONCILED: TRUE})])
    one = secret_pass(manager, OUTCOMES, view.namespace_map(), [])
    result = pass_outcome(
        manager, OUTCOMES, one, one.writes, view, mark_in=["team"], previous={}, now=NOW
    )
    # The Secret is not in any cache yet: the marks count it because the pass writes it.
    (marks,) = result.marks
    assert [(a.name, names) for a, names in marks.accounts] == [("default", ("a",))]
    assert result.phase == "Ready"
    assert result.status["phase"] == "Ready"
    assert result.status["secrets"] == ["a"]
    assert result.status["reconciledObjects"] == 1
    assert result.status["conditions"][0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"


def test_a_failed_write_marks_nothing_and_settles_degraded() -> None:
    manager = _namespaced()
    view = _View([manager], [AccountInfo("team", "default")])
    one = secret_pass(manager, OUTCOMES, view.namespace_map(), [])
    theirs = SecretInfo("team", "a", DOCKERCONFIGJSON_TYPE, None, "x")
    # The create met somebody else's Secret: what was applied is a conflict.
    applied = SecretWrites(conflicts=(theirs,))
    result = pass_outcome(
        manager, OUTCOMES, one, applied, view, mark_in=["team"], previous={}, now=NOW
    )
    (marks,) = result.marks
    assert [(a.name, names) for a, names in marks.accounts] == [("default", ())]
    assert (result.phase, result.reason) == ("Degraded", "SecretConflict")


def test_a_failed_entry_reports_its_retry_and_never_a_payload() -> None:
    manager = _namespaced()
    failed = (
        EntryOutcome(
            "a", False, "SecretNotFound", "Secret team/x not found", failures=2, retry_at=NOW
        ),
    )
    view = _View([manager], [])
    one = secret_pass(manager, failed, view.namespace_map(), [])
    result = pass_outcome(manager, failed, one, one.writes, view, mark_in=[], previous={}, now=NOW)
    assert result.status["entries"] == [
        {
            "name": "a",
            "ready": False,
            "reason": "SecretNotFound",
            "message": "Secret team/x not found",
            "failures": 2,
            "retryAt": "2026-01-01T00:00:00Z",
        }
    ]
    assert result.phase == "Degraded"


def test_refusals_are_counted_by_namespace_and_listed_first_few() -> None:
    manager = _namespaced()
    view = _View([manager], [])
    one = secret_pass(manager, OUTCOMES, view.namespace_map(), [])
    creates = [
        Refusal(f"ns-{i}", "a", "create", "403 Forbidden") for i in range(REFUSALS_SHOWN + 2)
    ]
    refused = (*creates, Refusal("ns-0", "", "mark", "422 Invalid"))
    applied = SecretWrites(refused=refused)
    result = pass_outcome(manager, OUTCOMES, one, applied, view, mark_in=[], previous={}, now=NOW)
    assert result.status["refusedNamespaces"] == REFUSALS_SHOWN + 2
    assert len(result.status["refusals"]) == REFUSALS_SHOWN
    assert result.status["refusals"][0] == "ns-0: create of Secret a refused (403 Forbidden)"
    assert (result.phase, result.reason) == ("Degraded", "WriteRefused")
    assert result.message.endswith("and in 2 more")


def test_pod_mode_without_a_served_webhook_writes_its_secrets_and_says_why_not_ready() -> None:
    spec = ImagePullSecretManagerSpec.model_validate({"mode": "Pod", "secrets": [ENTRY]})
    manager = ManagerInfo(ManagerKind.NAMESPACED, "m", "team", UID, 1, spec)
    view = _View([manager], [])
    one = secret_pass(manager, OUTCOMES, view.namespace_map(), [])

    def outcome(served: bool) -> tuple[str, str, str]:
        result = pass_outcome(
            manager,
            OUTCOMES,
            one,
            one.writes,
            view,
            mark_in=["team"],
            previous={},
            now=NOW,
            webhook_served=served,
        )
        return result.phase, result.reason, result.status["secrets"][0]

    assert outcome(True) == ("Ready", "Reconciled", "a")
    assert outcome(False) == ("Degraded", "WebhookNotServed", "a")
    # ServiceAccount mode needs no webhook.
    sa = _namespaced()
    sa_pass = secret_pass(sa, OUTCOMES, view.namespace_map(), [])
    unserved = pass_outcome(
        sa,
        OUTCOMES,
        sa_pass,
        sa_pass.writes,
        view,
        mark_in=[],
        previous={},
        now=NOW,
        webhook_served=False,
    )
    assert unserved.phase == "Ready"
