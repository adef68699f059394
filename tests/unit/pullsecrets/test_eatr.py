"""eatr compatibility: `<registry>: "true"` namespace labels select single ECR entries."""

import pytest

from cheiron.api.models import ClusterImagePullSecretManagerSpec, Mode
from cheiron.api.observed import (
    DOCKERCONFIGJSON_TYPE,
    ManagerInfo,
    ManagerKind,
    NamespaceInfo,
    SecretInfo,
    digest,
)
from cheiron.pullsecrets.entries import EntryOutcome
from cheiron.pullsecrets.marks import names_in_namespace
from cheiron.pullsecrets.materialise import secret_writes
from cheiron.pullsecrets.targets import eatr_entries, eatr_targets, targets
from cheiron.targeting import eatr_selected

REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
OTHER = "210987654321.dkr.ecr.us-east-1.amazonaws.com"
UID = "uid-eatr"


def _manager(
    *, eatr: bool = True, merged: bool = False, exclude: tuple[str, ...] = ()
) -> ManagerInfo:
    spec: dict[str, object] = {
        "secrets": [
            {"name": "ecr-a", "ecr": {"registry": REGISTRY}},
            {"name": "ecr-b", "ecr": {"accountID": "210987654321", "region": "us-east-1"}},
            {"name": "hub", "registry": "docker.io", "username": "u", "password": "p"},
        ],
        "target": {"namespaces": {"names": ["listed"]}},
        "excludeNamespaces": list(exclude),
    }
    if merged:
        spec["target"] = {**spec["target"], "secret": {"name": "all"}}  # type: ignore[dict-item]
    return ManagerInfo(
        ManagerKind.CLUSTER,
        "m",
        None,
        UID,
        1,
        ClusterImagePullSecretManagerSpec.model_validate(spec),
        eatr=eatr,
    )


def _ns(name: str, labels: dict[str, str] | None = None, **kw: object) -> NamespaceInfo:
    return NamespaceInfo(name, labels or {}, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("namespace", "exclude", "selected"),
    [
        (_ns("a", {REGISTRY: "true"}), (), True),
        (_ns("a", {REGISTRY: "yes"}), (), False),
        (_ns("a", {OTHER: "true"}), (), False),
        (_ns("a"), (), False),
        (_ns("a", {REGISTRY: "true"}), ("a",), False),
        (_ns("kube-system", {REGISTRY: "true"}), (), False),
        (_ns("a", {REGISTRY: "true"}, terminating=True), (), False),
        (
            NamespaceInfo("a", {REGISTRY: "true"}, {"cheiron.anny.co/ignore": "true"}),
            (),
            False,
        ),
    ],
)
def test_eatr_selected(namespace: NamespaceInfo, exclude: tuple[str, ...], selected: bool) -> None:
    assert eatr_selected(namespace, REGISTRY, exclude) is selected


def test_entries_follow_the_labels_registry_by_registry() -> None:
    manager = _manager()
    assert eatr_entries(manager, _ns("x", {REGISTRY: "true"})) == {"ecr-a"}
    assert eatr_entries(manager, _ns("x", {OTHER: "true"})) == {"ecr-b"}
    assert eatr_entries(manager, _ns("x", {REGISTRY: "true", OTHER: "true"})) == {
        "ecr-a",
        "ecr-b",
    }


def test_off_unless_the_operator_enables_it() -> None:
    assert eatr_entries(_manager(eatr=False), _ns("x", {REGISTRY: "true"})) == frozenset()


def test_exclusion_wins() -> None:
    assert eatr_entries(_manager(exclude=("x",)), _ns("x", {REGISTRY: "true"})) == frozenset()


def test_targets_skip_namespaces_the_manager_already_targets() -> None:
    namespaces = {
        "listed": _ns("listed", {REGISTRY: "true"}),
        "labelled": _ns("labelled", {OTHER: "true"}),
        "plain": _ns("plain"),
    }
    manager = _manager()
    full = targets(manager, namespaces)
    assert full == ["listed"]
    assert eatr_targets(manager, namespaces, full) == {"labelled": frozenset({"ecr-b"})}


def test_writes_only_the_selected_entries_in_partial_namespaces() -> None:
    outcomes = [
        EntryOutcome(name, True, "Resolved", payload=b'{"auths":{}}')
        for name in ("ecr-a", "ecr-b", "hub")
    ]
    stale = SecretInfo("labelled", "ecr-a", DOCKERCONFIGJSON_TYPE, UID, digest(b"{}"))
    writes = secret_writes(UID, outcomes, ["listed"], [stale], {"labelled": frozenset({"ecr-b"})})
    assert sorted((d.namespace, d.name) for d in writes.create) == [
        ("labelled", "ecr-b"),
        ("listed", "ecr-a"),
        ("listed", "ecr-b"),
        ("listed", "hub"),
    ]
    # The label for ecr-a's registry is gone: its Secret goes too.
    assert writes.delete == (stale,)


def test_names_for_accounts_in_an_eatr_namespace() -> None:
    namespaces = {"labelled": _ns("labelled", {REGISTRY: "true"})}
    secrets = {
        name: SecretInfo("labelled", name, DOCKERCONFIGJSON_TYPE, UID, "d")
        for name in ("ecr-a", "ecr-b", "hub")
    }
    names = names_in_namespace("labelled", Mode.SERVICE_ACCOUNT, [_manager()], namespaces, secrets)
    assert names == ("ecr-a",)
    pending = names_in_namespace(
        "labelled", Mode.SERVICE_ACCOUNT, [_manager()], namespaces, {}, include_pending=True
    )
    assert pending == ("ecr-a",)


def test_a_merged_manager_gives_its_one_secret() -> None:
    namespaces = {"labelled": _ns("labelled", {REGISTRY: "true"})}
    secrets = {"all": SecretInfo("labelled", "all", DOCKERCONFIGJSON_TYPE, UID, "d")}
    names = names_in_namespace(
        "labelled", Mode.SERVICE_ACCOUNT, [_manager(merged=True)], namespaces, secrets
    )
    assert names == ("all",)


def test_an_entry_without_a_known_host_is_never_selected_by_labels() -> None:
    spec = ClusterImagePullSecretManagerSpec.model_validate(
        {
            "secrets": [
                {
                    "name": "ecr",
                    "ecr": {"credentialsSecretRef": {"name": "aws", "namespace": "ops"}},
                }
            ]
        }
    )
    manager = ManagerInfo(ManagerKind.CLUSTER, "m", None, UID, 1, spec, eatr=True)
    assert spec.secrets[0].ecr is not None
    assert spec.secrets[0].ecr.host is None
    assert eatr_entries(manager, _ns("x", {REGISTRY: "true"})) == frozenset()
