"""Which namespaces and ServiceAccounts a manager acts on, and which keys that reads (pure).

imps' semantics: a namespace is selected when ANY rule matches (a name, a label selector,
an annotation selector, or a Pod in it matching a Pod rule); without rules every namespace
is. `excludeNamespaces` always wins, and kube-system is only ever selected by name.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from cheiron.api.models import (
    AnnotationSelector,
    ClusterTarget,
    LabelSelector,
    ServiceAccountSelector,
)
from cheiron.api.observed import AccountInfo, ManagerInfo, NamespaceInfo

__all__ = [
    "ALWAYS_EXCLUDED",
    "Interest",
    "NamespaceInfo",
    "PodsIn",
    "account_selected",
    "annotations_match",
    "cluster_targets",
    "eligible",
    "interest",
    "labels_match",
    "namespace_selected",
    "namespaced_targets",
]

# Never targeted implicitly: system pods there must not depend on cheiron being up.
ALWAYS_EXCLUDED = frozenset({"kube-system"})

PodsIn = Callable[[str], Iterable[AccountInfo]]


def labels_match(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """Kubernetes label-selector semantics: every pair and every expression holds."""
    if any(labels.get(k) != v for k, v in selector.match_labels.items()):
        return False
    for req in selector.match_expressions:
        present = req.key in labels
        value = labels.get(req.key)
        ok = {
            "In": present and value in req.values,
            "NotIn": not present or value not in req.values,
            "Exists": present,
            "DoesNotExist": not present,
        }[req.operator]
        if not ok:
            return False
    return True


def annotations_match(selector: AnnotationSelector, annotations: Mapping[str, str]) -> bool:
    """Every listed annotation is present with exactly that value."""
    return all(annotations.get(k) == v for k, v in selector.match_annotations.items())


def namespace_selected(
    namespace: NamespaceInfo, target: ClusterTarget | None, pods: Iterable[AccountInfo]
) -> bool:
    """Whether a namespace matches a target's rules (ignoring exclusions)."""
    ns_rules = target.namespaces if target else None
    pod_rules = target.namespaces_with_pods if target else None
    if ns_rules is not None and namespace.name in ns_rules.names:
        return True
    if namespace.name in ALWAYS_EXCLUDED:
        return False
    if ns_rules is None and pod_rules is None:
        return True
    by_namespace = ns_rules is not None and (
        any(labels_match(s, namespace.labels) for s in ns_rules.labels)
        or any(annotations_match(s, namespace.annotations) for s in ns_rules.annotations)
    )
    return by_namespace or (
        pod_rules is not None
        and (
            pod_rules.namespace_selector is None
            or labels_match(pod_rules.namespace_selector, namespace.labels)
        )
        and any(
            any(labels_match(s, pod.labels) for s in pod_rules.labels)
            or any(annotations_match(s, pod.object_annotations) for s in pod_rules.annotations)
            for pod in pods
        )
    )


def eligible(namespace: NamespaceInfo, exclude: Iterable[str] = ()) -> bool:
    """Usable, not excluded, and not one only a rule naming it may select (kube-system)."""
    return (
        namespace.usable
        and namespace.name not in ALWAYS_EXCLUDED
        and namespace.name not in set(exclude)
    )


def eatr_selected(namespace: NamespaceInfo, registry: str, exclude: Iterable[str] = ()) -> bool:
    """Eatr's opt-in: the namespace carries the label `<registry>: "true"`.

    Exclusions still win, as for every other rule.
    """
    return eligible(namespace, exclude) and namespace.labels.get(registry) == "true"


def namespaced_targets(own_namespace: str, namespaces: Mapping[str, NamespaceInfo]) -> list[str]:
    """A namespaced manager acts in its own namespace only, unless that opted out."""
    info = namespaces.get(own_namespace)
    return [own_namespace] if info is not None and info.usable else []


def cluster_targets(
    namespaces: Iterable[NamespaceInfo],
    exclude: Iterable[str] = (),
    target: ClusterTarget | None = None,
    pods_in: PodsIn = lambda _: (),
) -> list[str]:
    """The usable namespaces a cluster manager selects, minus the excluded ones, sorted."""
    excluded = set(exclude)
    return sorted(
        ns.name
        for ns in namespaces
        if ns.usable
        and ns.name not in excluded
        and namespace_selected(ns, target, pods_in(ns.name))
    )


def account_selected(
    selector: ServiceAccountSelector | None, name: str, labels: Mapping[str, str]
) -> bool:
    """Whether a ServiceAccount is one a manager patches (by name and/or labels; all if unset)."""
    if selector is None:
        return True
    if selector.names and name not in selector.names:
        return False
    return selector.label_selector is None or labels_match(selector.label_selector, labels)


@dataclass(frozen=True)
class Interest:
    """The label and annotation keys some selector reads: the only ones the caches keep.

    A tenant may put thousands of labels on each ServiceAccount or Pod; only these keys are
    kept of them, so memory follows the selectors the admin and managers wrote.
    """

    account_labels: frozenset[str] = frozenset()
    pod_labels: frozenset[str] = frozenset()
    pod_annotations: frozenset[str] = frozenset()

    def covers(self, other: "Interest") -> bool:
        """Whether every key `other` needs is kept here already."""
        return (
            other.account_labels <= self.account_labels
            and other.pod_labels <= self.pod_labels
            and other.pod_annotations <= self.pod_annotations
        )


def _selector_keys(selector: LabelSelector | None) -> set[str]:
    if selector is None:
        return set()
    return set(selector.match_labels) | {r.key for r in selector.match_expressions}


def interest(
    managers: Iterable[ManagerInfo], ignored_workload_selectors: Iterable[Mapping[str, str]] = ()
) -> Interest:
    """The keys the managers' selectors (and opted-out workloads' Pod selectors) read."""
    accounts: set[str] = set()
    pod_labels: set[str] = {k for s in ignored_workload_selectors for k in s}
    pod_annotations: set[str] = set()
    for manager in managers:
        chosen = manager.spec.service_account_selector
        accounts |= _selector_keys(chosen.label_selector if chosen is not None else None)
        rules = getattr(manager.spec.target, "namespaces_with_pods", None)
        if rules is not None:
            for selector in rules.labels:
                pod_labels |= _selector_keys(selector)
            for annotations in rules.annotations:
                pod_annotations |= set(annotations.match_annotations)
    return Interest(frozenset(accounts), frozenset(pod_labels), frozenset(pod_annotations))
