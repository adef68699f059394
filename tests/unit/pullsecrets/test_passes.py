"""The Secret pass shared by the operator's passes and the dry run."""

from hypothesis import given
from hypothesis import strategies as st

from cheiron.api.models import ClusterImagePullSecretManagerSpec, ImagePullSecretManagerSpec
from cheiron.api.observed import (
    DOCKERCONFIGJSON_TYPE,
    ManagerInfo,
    ManagerKind,
    NamespaceInfo,
    SecretInfo,
    digest,
)
from cheiron.pullsecrets.entries import EntryOutcome
from cheiron.pullsecrets.passes import secret_pass

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
