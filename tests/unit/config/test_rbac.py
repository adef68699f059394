"""The RBAC of config/ is exactly cheiron/k8s/permissions.py, for each install's command line."""

from pathlib import Path

import pytest

from cheiron.cli import build_parser
from cheiron.k8s.permissions import LEASE_NAME, PERMISSIONS, WEBHOOK_CONFIGURATION_NAME, Scope
from tests.support.manifests import (
    CLUSTER,
    CONFIG,
    Obj,
    find,
    granted,
    kustomize_in,
    one,
    required,
    run_args,
)

# What --leader-elect needs with the default --lease-name: create cannot be limited by name.
LEASE = {
    ("coordination.k8s.io", "leases", "create", None),
    ("coordination.k8s.io", "leases", "get", LEASE_NAME),
    ("coordination.k8s.io", "leases", "update", LEASE_NAME),
}


@pytest.mark.parametrize("overlay", ["cluster", "namespaced", "default"])
def test_install_grants_exactly_what_its_command_line_needs(
    overlay: str, kustomized: dict[str, list[Obj]]
) -> None:
    objects = kustomized[overlay]
    deployment = one(objects, "Deployment", "cheiron")
    namespace = deployment["metadata"]["namespace"]
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "cheiron"
    assert granted(objects, namespace) == required(run_args(deployment))


def test_cluster_install_is_cluster_wide_with_the_webhook(
    kustomized: dict[str, list[Obj]],
) -> None:
    grants = granted(kustomized["cluster"], "cheiron-system")
    # The operator's own namespace: the leader Lease, nothing else.
    assert set(grants) == {CLUSTER, "cheiron-system"}
    assert grants["cheiron-system"] == LEASE
    assert ("", "secrets", "list", None) in grants[CLUSTER]
    assert (
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
        "update",
        WEBHOOK_CONFIGURATION_NAME,
    ) in grants[CLUSTER]
    # A cluster-wide operator never needs to rewrite another webhook configuration.
    assert (
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
        "update",
        None,
    ) not in grants[CLUSTER]


def test_namespaced_install_only_reads_namespaces_and_crds_cluster_wide(
    kustomized: dict[str, list[Obj]],
) -> None:
    grants = granted(kustomized["namespaced"], "cheiron-system")
    assert grants[CLUSTER] == {
        ("", "namespaces", "list", None),
        ("", "namespaces", "watch", None),
        ("apiextensions.k8s.io", "customresourcedefinitions", "list", None),
        ("apiextensions.k8s.io", "customresourcedefinitions", "watch", None),
    }
    assert {p.resource for p in PERMISSIONS if p.scope is Scope.CLUSTER} == {
        "namespaces",
        "customresourcedefinitions",
    }
    assert not any(
        g[1].startswith("clusterimagepullsecretmanagers") for g in grants["cheiron-system"]
    )
    assert grants["cheiron-system"] >= LEASE


def test_leases_only_with_leader_election_in_the_operators_own_namespace() -> None:
    parser = build_parser()
    alone = required(parser.parse_args(["run", "--namespace", "team-a"]))
    assert not any(g[1] == "leases" for grants in alone.values() for g in grants)
    elected = required(
        parser.parse_args(
            [
                *("run", "--namespace", "team-a", "--leader-elect"),
                *("--operator-namespace", "ops", "--lease-name", "team-a-cheiron"),
            ]
        )
    )
    # Served namespaces and the cluster are no place for it, and the name follows the flag.
    assert elected["ops"] == {
        ("coordination.k8s.io", "leases", "create", None),
        ("coordination.k8s.io", "leases", "get", "team-a-cheiron"),
        ("coordination.k8s.io", "leases", "update", "team-a-cheiron"),
    }
    assert not any(g[1] == "leases" for g in elected["team-a"] | elected[CLUSTER])


def test_namespaced_install_follows_a_users_namespace(tmp_path: Path, kubectl: Path) -> None:
    objects = kustomize_in(CONFIG / "namespaced", "team-a", tmp_path / "overlay")
    deployment = one(objects, "Deployment", "cheiron")
    args = run_args(deployment)
    assert args.namespace == ["team-a"]
    assert granted(objects, "team-a") == required(args)
    # The user's namespace is theirs: the install neither creates nor deletes it.
    assert find(objects, "Namespace") == []


@pytest.mark.parametrize("overlay", ["cluster", "namespaced"])
def test_every_role_is_bound_to_the_operator(
    overlay: str, kustomized: dict[str, list[Obj]]
) -> None:
    objects = kustomized[overlay]
    roles = {(r["kind"], r["metadata"]["name"]) for r in find(objects, "ClusterRole")}
    roles |= {(r["kind"], r["metadata"]["name"]) for r in find(objects, "Role")}
    bound = {
        (b["roleRef"]["kind"], b["roleRef"]["name"])
        for b in find(objects, "ClusterRoleBinding") + find(objects, "RoleBinding")
    }
    assert roles == bound
