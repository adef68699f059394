"""Which namespaces a manager acts in, from what the watches observed (pure, no I/O)."""

from collections.abc import Iterable, Mapping

from cheiron.api.observed import NamespaceInfo

__all__ = ["ALWAYS_EXCLUDED", "NamespaceInfo", "cluster_targets", "namespaced_targets"]

# Never targeted implicitly: system pods there must not depend on cheiron being up.
ALWAYS_EXCLUDED = frozenset({"kube-system"})


def namespaced_targets(own_namespace: str, namespaces: Mapping[str, NamespaceInfo]) -> list[str]:
    """A namespaced manager acts in its own namespace only, unless that opted out."""
    info = namespaces.get(own_namespace)
    return [own_namespace] if info is not None and info.usable else []


def cluster_targets(namespaces: Iterable[NamespaceInfo], exclude: Iterable[str] = ()) -> list[str]:
    """A cluster manager acts in every usable namespace but the excluded ones, sorted."""
    excluded = ALWAYS_EXCLUDED | set(exclude)
    return sorted(ns.name for ns in namespaces if ns.usable and ns.name not in excluded)
