"""Targets and marks: where a manager acts, and the names its accounts carry."""

import pytest

from cheiron.api.models import ClusterImagePullSecretManagerSpec, ImagePullSecretManagerSpec, Mode
from cheiron.api.observed import (
    DOCKERCONFIGJSON_TYPE,
    ManagerInfo,
    ManagerKind,
    NamespaceInfo,
    SecretInfo,
)
from cheiron.pullsecrets.marks import mark_patch, names_in_namespace
from cheiron.pullsecrets.targets import targets

UID = "uid-1"


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
    assert targets(namespaced, NAMESPACES) == ["team"]
    assert targets(cluster, NAMESPACES) == ["team"]


def test_names_only_for_secrets_that_exist_and_are_ours() -> None:
    manager = _manager(
        ManagerKind.NAMESPACED, {"secrets": [INLINE, {"existingSecretRef": {"name": "gl"}}]}
    )
    secrets = {
        "a": SecretInfo("team", "a", DOCKERCONFIGJSON_TYPE, UID, "d"),
        "gl": SecretInfo("team", "gl", DOCKERCONFIGJSON_TYPE, None, "d"),
    }
    names = names_in_namespace("team", Mode.SERVICE_ACCOUNT, [manager], NAMESPACES, secrets)
    assert names == ("a", "gl")
    assert names_in_namespace("team", Mode.POD, [manager], NAMESPACES, secrets) == ()
    foreign = {"a": SecretInfo("team", "a", DOCKERCONFIGJSON_TYPE, None, "d")}
    assert names_in_namespace("team", Mode.SERVICE_ACCOUNT, [manager], NAMESPACES, foreign) == ()


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
    assert mark_patch(annotations, names, ns_ignored) == patch


def test_names_of_a_merged_manager() -> None:
    spec = {"secrets": [INLINE], "target": {"secret": {"name": "all"}}}
    manager = _manager(ManagerKind.NAMESPACED, spec)
    mine = {"all": SecretInfo("team", "all", DOCKERCONFIGJSON_TYPE, UID, "d")}
    assert names_in_namespace("team", Mode.SERVICE_ACCOUNT, [manager], NAMESPACES, mine) == ("all",)
    assert names_in_namespace("team", Mode.SERVICE_ACCOUNT, [manager], NAMESPACES, {}) == ()
    pending = names_in_namespace(
        "team", Mode.SERVICE_ACCOUNT, [manager], NAMESPACES, {}, include_pending=True
    )
    assert pending == ("all",)
