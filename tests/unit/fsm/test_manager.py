"""The manager machine's table and the Secret plan: create, update, delete, never adopt."""

import pytest
from transitions import MachineError

from cheiron.api.models import ClusterImagePullSecretManagerSpec, ImagePullSecretManagerSpec, Mode
from cheiron.api.observed import (
    DOCKERCONFIGJSON_TYPE,
    ManagerInfo,
    ManagerKind,
    NamespaceInfo,
    SecretInfo,
    digest,
)
from cheiron.dockerconfig import DockerConfig
from cheiron.fsm import manager as m


def test_happy_path_walks_every_phase() -> None:
    machine = m.ManagerMachine(None)
    assert machine.state == m.PENDING
    ok = m.Progress((m.EntryOutcome("a", True, "Resolved", payload=b"{}"),))
    assert [
        machine.fire("reconcile"),
        machine.fire("resolved"),
        machine.fire("materialized"),
        machine.fire("annotated", ok),
    ] == [m.RESOLVING, m.MATERIALIZING, m.ANNOTATING, m.READY]


def test_a_failed_entry_ends_degraded() -> None:
    machine = m.ManagerMachine(m.READY)
    bad = m.Progress((m.EntryOutcome("a", False, "SecretNotFound"),))
    for trigger in ("reconcile", "resolved", "materialized"):
        machine.fire(trigger)
    assert machine.fire("annotated", bad) == m.DEGRADED


def test_a_conflict_ends_degraded() -> None:
    machine = m.ManagerMachine(m.ANNOTATING)
    conflict = m.Progress((), (SecretInfo("ns", "a", DOCKERCONFIGJSON_TYPE),))
    assert machine.fire("annotated", conflict) == m.DEGRADED


def test_out_of_order_triggers_are_refused() -> None:
    with pytest.raises(MachineError):
        m.ManagerMachine(m.PENDING).fire("materialized")


def test_an_unknown_stored_phase_restarts_from_pending() -> None:
    assert m.ManagerMachine("Bogus").state == m.PENDING


UID = "uid-1"
A = m.EntryOutcome("a", True, "Resolved", payload=b'{"auths":{}}')


@pytest.mark.parametrize(
    ("existing", "expect"),
    [
        ([], "create"),
        ([SecretInfo("ns", "a", DOCKERCONFIGJSON_TYPE, UID, digest(A.payload or b""))], "none"),
        ([SecretInfo("ns", "a", DOCKERCONFIGJSON_TYPE, UID, "stale")], "update"),
        ([SecretInfo("ns", "a", DOCKERCONFIGJSON_TYPE, None, "x")], "conflict"),
        ([SecretInfo("ns", "a", DOCKERCONFIGJSON_TYPE, "other-uid", "x")], "conflict"),
    ],
)
def test_plan_one_entry(existing: list[SecretInfo], expect: str) -> None:
    plan = m.plan_secrets(UID, [A], ["ns"], existing)
    got = {
        "create": len(plan.create),
        "update": len(plan.update),
        "conflict": len(plan.conflicts),
    }
    assert plan.delete == ()
    if expect == "none":
        assert plan.writes == 0
        assert not plan.conflicts
    else:
        assert got[expect] == 1
        assert sum(got.values()) == 1


def test_failed_entry_keeps_its_old_secret() -> None:
    failed = m.EntryOutcome("a", False, "SecretNotFound")
    old = SecretInfo("ns", "a", DOCKERCONFIGJSON_TYPE, UID, "d")
    assert m.plan_secrets(UID, [failed], ["ns"], [old]).writes == 0


def test_removed_entries_and_untargeted_namespaces_are_cleaned() -> None:
    gone_entry = SecretInfo("ns", "old", DOCKERCONFIGJSON_TYPE, UID, "d")
    gone_ns = SecretInfo("elsewhere", "a", DOCKERCONFIGJSON_TYPE, UID, "d")
    foreign = SecretInfo("elsewhere", "b", DOCKERCONFIGJSON_TYPE, None, "d")
    plan = m.plan_secrets(UID, [A], ["ns"], [gone_entry, gone_ns, foreign])
    assert set(plan.delete) == {gone_entry, gone_ns}


def test_cluster_copy_skips_its_own_source() -> None:
    copy = m.EntryOutcome("a", True, "Resolved", payload=b"{}", source=("creds", "a"))
    plan = m.plan_secrets(UID, [copy], ["creds", "team"], [])
    assert [(d.namespace, d.name) for d in plan.create] == [("team", "a")]


def _manager(kind: ManagerKind, spec: dict[str, object], ns: str | None = "team") -> ManagerInfo:
    model = (
        ImagePullSecretManagerSpec
        if kind is ManagerKind.NAMESPACED
        else ClusterImagePullSecretManagerSpec
    )
    return ManagerInfo(kind, "m", ns, UID, 1, model.model_validate(spec))


INLINE = {"name": "a", "registry": "ghcr.io", "username": "u", "password": "p"}
NAMESPACES = {n: NamespaceInfo(n) for n in ("team", "other", "kube-system")} | {
    "quiet": NamespaceInfo("quiet", annotations={"cheiron.anny.co/ignore": "true"})
}


def test_targets_of_each_kind() -> None:
    namespaced = _manager(ManagerKind.NAMESPACED, {"secrets": [INLINE]})
    cluster = _manager(
        ManagerKind.CLUSTER, {"secrets": [INLINE], "excludeNamespaces": ["other"]}, None
    )
    assert m.targets(namespaced, NAMESPACES) == ["team"]
    assert m.targets(cluster, NAMESPACES) == ["team"]


def test_names_only_for_secrets_that_exist_and_are_ours() -> None:
    manager = _manager(
        ManagerKind.NAMESPACED, {"secrets": [INLINE, {"existingSecretRef": {"name": "gl"}}]}
    )
    secrets = {
        "a": SecretInfo("team", "a", DOCKERCONFIGJSON_TYPE, UID, "d"),
        "gl": SecretInfo("team", "gl", DOCKERCONFIGJSON_TYPE, None, "d"),
    }
    names = m.names_in_namespace("team", Mode.SERVICE_ACCOUNT, [manager], NAMESPACES, secrets)
    assert names == ("a", "gl")
    assert m.names_in_namespace("team", Mode.POD, [manager], NAMESPACES, secrets) == ()
    foreign = {"a": SecretInfo("team", "a", DOCKERCONFIGJSON_TYPE, None, "d")}
    assert m.names_in_namespace("team", Mode.SERVICE_ACCOUNT, [manager], NAMESPACES, foreign) == ()


@pytest.mark.parametrize(
    ("annotations", "names", "ns_ignored", "patch"),
    [
        (
            {},
            ("a",),
            False,
            {"cheiron.anny.co/reconcilable": "true", "cheiron.anny.co/reconcile-with": "a"},
        ),
        (
            {"cheiron.anny.co/reconcilable": "true", "cheiron.anny.co/reconcile-with": "a"},
            ("a",),
            False,
            None,
        ),
        (
            {"cheiron.anny.co/reconcilable": "true", "cheiron.anny.co/reconcile-with": "a"},
            (),
            False,
            {"cheiron.anny.co/reconcilable": None, "cheiron.anny.co/reconcile-with": None},
        ),
        ({}, (), False, None),
        ({"cheiron.anny.co/ignore": "true"}, ("a",), False, None),
        ({}, ("a",), True, None),
    ],
)
def test_mark_patch(
    annotations: dict[str, str],
    names: tuple[str, ...],
    ns_ignored: bool,
    patch: dict[str, str | None] | None,
) -> None:
    assert m.mark_patch(annotations, names, ns_ignored) == patch


def _config(registry: str, password: str) -> bytes:
    return DockerConfig.single(registry, "u", password).to_json()


def test_merged_outcome_earlier_entry_wins() -> None:
    outcomes = [
        m.EntryOutcome("a", True, "Resolved", payload=_config("ghcr.io", "first")),
        m.EntryOutcome("b", True, "Resolved", payload=_config("https://ghcr.io/", "second")),
        m.EntryOutcome("c", True, "Resolved", payload=_config("quay.io", "q"), in_place=True),
    ]
    merged, overridden = m.merged_outcome("all", outcomes)
    assert merged.ok
    assert merged.update
    assert overridden == ("ghcr.io",)
    assert merged.payload is not None
    config = DockerConfig.parse(merged.payload)
    assert config.registries == ("ghcr.io", "quay.io")
    assert config.auths["ghcr.io"].password == "first"


def test_merged_outcome_with_a_failure_creates_but_never_degrades() -> None:
    outcomes = [
        m.EntryOutcome("a", True, "Resolved", payload=_config("ghcr.io", "p")),
        m.EntryOutcome("b", False, "SecretNotFound"),
    ]
    merged, _ = m.merged_outcome("all", outcomes)
    assert merged.ok
    assert not merged.update
    old = SecretInfo("ns", "all", DOCKERCONFIGJSON_TYPE, UID, "older-content")
    assert m.plan_secrets(UID, [merged], ["ns", "new"], [old]).create[0].namespace == "new"
    assert m.plan_secrets(UID, [merged], ["ns"], [old]).writes == 0


def test_merged_outcome_without_any_credentials_fails() -> None:
    merged, _ = m.merged_outcome("all", [m.EntryOutcome("b", False, "SecretNotFound")])
    assert not merged.ok
    assert merged.payload is None


def test_names_of_a_merged_manager() -> None:
    spec = {"secrets": [INLINE], "target": {"secret": {"name": "all"}}}
    manager = _manager(ManagerKind.NAMESPACED, spec)
    mine = {"all": SecretInfo("team", "all", DOCKERCONFIGJSON_TYPE, UID, "d")}
    assert m.names_in_namespace("team", Mode.SERVICE_ACCOUNT, [manager], NAMESPACES, mine) == (
        "all",
    )
    assert m.names_in_namespace("team", Mode.SERVICE_ACCOUNT, [manager], NAMESPACES, {}) == ()
    pending = m.names_in_namespace(
        "team", Mode.SERVICE_ACCOUNT, [manager], NAMESPACES, {}, include_pending=True
    )
    assert pending == ("all",)
