"""Namespace and ServiceAccount selection, table-driven (imps' semantics)."""

from typing import Any

import pytest

from cheiron.api.models import ClusterTarget, LabelSelector, ServiceAccountSelector
from cheiron.api.observed import AccountInfo, NamespaceInfo
from cheiron.targeting import account_selected, cluster_targets, labels_match

NAMESPACES = [
    NamespaceInfo("kube-system"),
    NamespaceInfo("team-a", labels={"team": "a", "tier": "prod"}),
    NamespaceInfo("team-b", labels={"team": "b"}),
    NamespaceInfo("legacy", annotations={"registry": "mirror"}),
    NamespaceInfo("quiet", annotations={"cheiron.anny.co/ignore": "true"}, labels={"team": "a"}),
    NamespaceInfo("gone", labels={"team": "a"}, terminating=True),
    NamespaceInfo("empty"),
]
PODS = {
    "team-b": [
        AccountInfo("team-b", "web", labels={"app": "web"}, object_annotations={"pull": "hub"})
    ],
    "empty": [],
}


def pods_in(namespace: str) -> list[AccountInfo]:
    return PODS.get(namespace, [])


@pytest.mark.parametrize(
    ("target", "exclude", "expected"),
    [
        (None, [], ["empty", "legacy", "team-a", "team-b"]),
        (None, ["team-b"], ["empty", "legacy", "team-a"]),
        ({"namespaces": {"names": ["team-b", "kube-system"]}}, [], ["kube-system", "team-b"]),
        ({"namespaces": {"names": ["team-b"]}}, ["team-b"], []),
        ({"namespaces": {"labels": [{"matchLabels": {"team": "a"}}]}}, [], ["team-a"]),
        (
            {
                "namespaces": {
                    "labels": [
                        {
                            "matchExpressions": [
                                {"key": "team", "operator": "In", "values": ["a", "b"]}
                            ]
                        }
                    ]
                }
            },
            [],
            ["team-a", "team-b"],
        ),
        (
            {
                "namespaces": {
                    "labels": [
                        {
                            "matchExpressions": [
                                {"key": "team", "operator": "NotIn", "values": ["a"]}
                            ]
                        }
                    ]
                }
            },
            [],
            ["empty", "legacy", "team-b"],
        ),
        (
            {
                "namespaces": {
                    "labels": [{"matchExpressions": [{"key": "tier", "operator": "Exists"}]}]
                }
            },
            [],
            ["team-a"],
        ),
        (
            {
                "namespaces": {
                    "labels": [{"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}]
                }
            },
            [],
            ["empty", "legacy"],
        ),
        (
            {"namespaces": {"annotations": [{"matchAnnotations": {"registry": "mirror"}}]}},
            [],
            ["legacy"],
        ),
        ({"namespacesWithPods": {"labels": [{"matchLabels": {"app": "web"}}]}}, [], ["team-b"]),
        (
            {"namespacesWithPods": {"annotations": [{"matchAnnotations": {"pull": "hub"}}]}},
            [],
            ["team-b"],
        ),
        ({"namespacesWithPods": {"labels": [{"matchLabels": {"app": "db"}}]}}, [], []),
        # The admin's side: a tenant's Pod labels opt in only namespaces the selector allows.
        (
            {
                "namespacesWithPods": {
                    "labels": [{"matchLabels": {"app": "web"}}],
                    "namespaceSelector": {"matchLabels": {"team": "a"}},
                }
            },
            [],
            [],
        ),
        (
            {
                "namespacesWithPods": {
                    "labels": [{"matchLabels": {"app": "web"}}],
                    "namespaceSelector": {"matchLabels": {"team": "b"}},
                }
            },
            [],
            ["team-b"],
        ),
        (
            {
                "namespaces": {"names": ["legacy"], "labels": [{"matchLabels": {"team": "a"}}]},
                "namespacesWithPods": {"labels": [{"matchLabels": {"app": "web"}}]},
            },
            [],
            ["legacy", "team-a", "team-b"],
        ),
        ({"namespaces": {"labels": [{"matchLabels": {"team": "a"}}]}}, ["team-a"], []),
    ],
    ids=[
        "all",
        "exclude",
        "names-incl-kube-system",
        "exclude-wins-over-names",
        "matchLabels",
        "In",
        "NotIn",
        "Exists",
        "DoesNotExist",
        "annotations",
        "pods-by-label",
        "pods-by-annotation",
        "no-matching-pod",
        "pods-outside-namespace-selector",
        "pods-inside-namespace-selector",
        "any-rule",
        "exclude-wins-over-labels",
    ],
)
def test_cluster_targets(
    target: dict[str, Any] | None, exclude: list[str], expected: list[str]
) -> None:
    model = ClusterTarget.model_validate(target) if target is not None else None
    assert cluster_targets(NAMESPACES, exclude, model, pods_in) == expected


def test_selector_requirements_are_validated() -> None:
    with pytest.raises(ValueError, match="need values"):
        LabelSelector.model_validate({"matchExpressions": [{"key": "a", "operator": "In"}]})
    with pytest.raises(ValueError, match="take none"):
        LabelSelector.model_validate(
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}
        )


def test_empty_selector_matches_everything() -> None:
    assert labels_match(LabelSelector(), {})


@pytest.mark.parametrize(
    ("selector", "name", "labels", "expected"),
    [
        (None, "any", {}, True),
        ({"names": ["builder"]}, "builder", {}, True),
        ({"names": ["builder"]}, "default", {}, False),
        ({"labelSelector": {"matchLabels": {"pull": "yes"}}}, "x", {"pull": "yes"}, True),
        ({"labelSelector": {"matchLabels": {"pull": "yes"}}}, "x", {}, False),
        (
            {"names": ["a"], "labelSelector": {"matchLabels": {"pull": "yes"}}},
            "a",
            {"pull": "no"},
            False,
        ),
    ],
)
def test_account_selected(
    selector: dict[str, Any] | None, name: str, labels: dict[str, str], expected: bool
) -> None:
    model = ServiceAccountSelector.model_validate(selector) if selector is not None else None
    assert account_selected(model, name, labels) is expected
