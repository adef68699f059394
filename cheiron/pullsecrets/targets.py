"""Where a manager's pull Secrets go: its target namespaces, eatr's, and what each gets (pure)."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cheiron.api.models import ClusterImagePullSecretManagerSpec
from cheiron.api.observed import AccountInfo, ManagerInfo, ManagerKind, SecretInfo
from cheiron.pullsecrets.entries import EntryOutcome
from cheiron.pullsecrets.materialise import merged_name, merged_outcome
from cheiron.targeting import (
    NamespaceInfo,
    PodsIn,
    cluster_targets,
    eatr_selected,
    namespaced_targets,
)


def no_pods(_: str) -> Iterable[AccountInfo]:
    """No Pods anywhere: the default where a caller has no Pod view."""
    return ()


def targets(
    manager: ManagerInfo,
    namespaces: Mapping[str, NamespaceInfo],
    pods_in: PodsIn = no_pods,
) -> list[str]:
    """The namespaces a manager acts in now."""
    if manager.deleting:
        return []
    if manager.kind is ManagerKind.NAMESPACED:
        assert manager.namespace is not None  # noqa: S101 - namespaced kind has a namespace
        return namespaced_targets(manager.namespace, namespaces)
    spec = manager.spec
    assert isinstance(spec, ClusterImagePullSecretManagerSpec)  # noqa: S101 - by kind
    return cluster_targets(namespaces.values(), spec.exclude_namespaces, spec.target, pods_in)


def acts_in(
    manager: ManagerInfo,
    namespace: str,
    namespaces: Mapping[str, NamespaceInfo],
    pods_in: PodsIn = no_pods,
) -> bool:
    """Whether a manager acts in one namespace (without computing all its targets)."""
    info = namespaces.get(namespace)
    if manager.deleting or info is None:
        return False
    if manager.kind is ManagerKind.NAMESPACED:
        return manager.namespace == namespace and info.usable
    spec = manager.spec
    assert isinstance(spec, ClusterImagePullSecretManagerSpec)  # noqa: S101 - by kind
    return bool(cluster_targets([info], spec.exclude_namespaces, spec.target, pods_in))


def eatr_entries(manager: ManagerInfo, namespace: NamespaceInfo) -> frozenset[str]:
    """Entries a namespace asks for with eatr's `<registry>: "true"` labels (if enabled)."""
    if not manager.eatr or manager.deleting or manager.kind is not ManagerKind.CLUSTER:
        return frozenset()
    spec = manager.spec
    assert isinstance(spec, ClusterImagePullSecretManagerSpec)  # noqa: S101 - by kind
    return frozenset(
        entry.secret_name
        for entry in spec.secrets
        if entry.ecr is not None
        and (host := entry.ecr.host) is not None
        and eatr_selected(namespace, host, spec.exclude_namespaces)
    )


def eatr_targets(
    manager: ManagerInfo, namespaces: Mapping[str, NamespaceInfo], full: Iterable[str]
) -> dict[str, frozenset[str]]:
    """Namespaces outside the manager's targets that get some entries by eatr labels."""
    if not manager.eatr or manager.deleting or manager.kind is not ManagerKind.CLUSTER:
        return {}  # without a walk of every namespace: most managers never use eatr
    skip = set(full)
    found = {
        name: wanted
        for name, info in namespaces.items()
        if name not in skip and (wanted := eatr_entries(manager, info))
    }
    return dict(sorted(found.items()))


@dataclass(frozen=True)
class SecretTargets:
    """What a manager's Secrets hold and where they go."""

    # One per entry, or the one merged Secret.
    written: tuple[EntryOutcome, ...]
    # Namespaces that get every written Secret, and eatr namespaces with the entries they
    # asked for.
    full: list[str]
    partial: dict[str, frozenset[str]]
    # Registries that more than one entry gives, in a merged Secret (the first wins).
    overridden: tuple[str, ...] = ()

    @property
    def namespaces(self) -> list[str]:
        """Every namespace that gets a Secret."""
        return [*self.full, *self.partial]


def secret_targets(
    manager: ManagerInfo,
    outcomes: tuple[EntryOutcome, ...],
    namespaces: Mapping[str, NamespaceInfo],
    pods_in: PodsIn = no_pods,
) -> SecretTargets:
    """The Secrets a pass writes, from the entries' outcomes and the manager's targets."""
    full = targets(manager, namespaces, pods_in)
    partial = eatr_targets(manager, namespaces, full)
    if (merged := merged_name(manager)) is None:
        return SecretTargets(outcomes, full, partial)
    single, overridden = merged_outcome(merged, outcomes)
    # One Secret holds every entry: an eatr namespace gets it whole.
    return SecretTargets((single,), sorted({*full, *partial}), {}, overridden)


def owned_or_in(
    secrets: Iterable[SecretInfo], owner_uid: str, namespaces: Iterable[str]
) -> list[SecretInfo]:
    """Secrets of this owner anywhere, and every Secret in the given namespaces."""
    wanted = set(namespaces)
    return [s for s in secrets if s.namespace in wanted or s.owner_uid == owner_uid]
