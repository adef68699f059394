"""The single list of Kubernetes API calls the operator makes, as the RBAC rules they need.

Pure data. Every request cheiron sends (cheiron.k8s.objects, cheiron.k8s.webhooks), every
list + watch of its informers (cheiron.runtime.caches) and every watch kopf opens for the
handlers of cheiron's resources (cheiron.controllers) appears here once, with the reason.
The install manifests (config/rbac, charts/cheiron) must grant exactly this:
tests/unit/config/test_rbac.py fails when they grant more or less, so a new API call starts
here, and a change here is a change of the operator's privileges.

What is not here, and why: kopf runs standalone (`kopf.run(standalone=True)`), so it needs no
peering resources; kopf's own Events are off (`settings.posting.enabled = False`), and kopf
keeps its progress in annotations, so it writes the managers with `patch` only; API discovery
(/api, /apis) is allowed to every authenticated user by the default `system:discovery` role.
Several replicas elect their leader with cheiron's own Lease (cheiron.k8s.lease), not kopf's.
"""

from dataclasses import dataclass
from enum import StrEnum

from cheiron import API_GROUP


class Scope(StrEnum):
    """Which installs need a rule, and whether a namespaced install grants it per namespace."""

    # A namespaced resource in the served namespaces: a Role in each of them for a namespaced
    # install, part of the ClusterRole for a cluster-wide one.
    NAMESPACE = "namespace"
    # A cluster-scoped read both installs need: kopf watches cluster-scoped resources across
    # the cluster even when it serves one namespace, so this is a ClusterRole in both.
    CLUSTER = "cluster"
    # Only a cluster-wide install acts on this (a namespaced install has no cluster managers).
    CLUSTER_INSTALL = "cluster-install"
    # Only when the operator writes its own MutatingWebhookConfiguration (--webhook-port
    # without --no-webhook-configuration).
    WEBHOOK = "webhook"
    # Only with --leader-elect, and only in the operator's own namespace (--operator-namespace,
    # where the Lease lives): a Role there in both installs, whatever namespaces they serve.
    LEADER_ELECTION = "leader-election"


@dataclass(frozen=True)
class Permission:
    """Verbs on one resource, the resource names they are limited to, and why they are needed."""

    group: str
    resource: str
    verbs: tuple[str, ...]
    scope: Scope
    why: str
    resource_names: tuple[str, ...] = ()


WEBHOOK_CONFIGURATION_NAME = "cheiron"
# The default of --lease-name: an install that passes another name grants that one instead.
LEASE_NAME = "cheiron"

PERMISSIONS: tuple[Permission, ...] = (
    Permission(
        "",
        "secrets",
        ("list", "watch"),
        Scope.NAMESPACE,
        "the Secret informer (runtime.caches: pull Secrets and cheiron's own kept, the others "
        "only noticed for references); cleanup lists a manager's Secrets by label "
        "(Kube.list_owned_secrets)",
    ),
    Permission(
        "",
        "secrets",
        ("get", "create", "patch", "delete"),
        Scope.NAMESPACE,
        "read referenced Secrets and ours (Kube.read_secret, secret_labels); write pull Secrets "
        "(create_pull_secret, update_pull_secret, delete_secret)",
    ),
    Permission(
        "",
        "serviceaccounts",
        ("list", "watch", "patch"),
        Scope.NAMESPACE,
        "the ServiceAccount informer; marks and imagePullSecrets (Kube.patch_service_account)",
    ),
    Permission(
        "",
        "pods",
        ("list", "watch", "patch", "delete"),
        Scope.NAMESPACE,
        "the Pod informer; marks (Kube.patch_pod); recreating stuck Pods with a UID "
        "precondition (Kube.delete_pod)",
    ),
    Permission(
        "",
        "events",
        ("create",),
        Scope.NAMESPACE,
        "cheiron's own Events (Kube.event)",
    ),
    Permission(
        API_GROUP,
        "imagepullsecretmanagers",
        ("list", "watch", "patch"),
        Scope.NAMESPACE,
        "the manager informer, which drives each manager's loop; its finalizer "
        "(Kube.patch_manager_metadata)",
    ),
    Permission(
        API_GROUP,
        "imagepullsecretmanagers/status",
        ("patch",),
        Scope.NAMESPACE,
        "status of a manager (Kube.patch_manager_status)",
    ),
    Permission(
        "",
        "namespaces",
        ("list", "watch"),
        Scope.CLUSTER,
        "the Namespace informer (targets, opt-outs); in a namespaced install kopf also lists "
        "them to check that the served namespaces exist",
    ),
    Permission(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        ("list", "watch"),
        Scope.CLUSTER,
        "kopf's resource observer: notices cheiron's CRDs installed or changed after start "
        "(without it kopf warns and scans once)",
    ),
    Permission(
        API_GROUP,
        "clusterimagepullsecretmanagers",
        ("list", "watch", "patch"),
        Scope.CLUSTER_INSTALL,
        "the manager informer, which drives each manager's loop; its finalizer "
        "(Kube.patch_manager_metadata)",
    ),
    Permission(
        API_GROUP,
        "clusterimagepullsecretmanagers/status",
        ("patch",),
        Scope.CLUSTER_INSTALL,
        "status of a manager (Kube.patch_manager_status)",
    ),
    Permission(
        API_GROUP,
        "clusterimagepullsecretmanagers",
        ("get", "create"),
        Scope.CLUSTER_INSTALL,
        "a ClusterImageBackup's pull-Secret manager: created, or read to check it is the "
        "backup's own before its spec is set (Kube.apply_cluster_manager)",
    ),
    Permission(
        API_GROUP,
        "clusterimagebackups",
        ("list", "watch", "patch"),
        Scope.CLUSTER_INSTALL,
        "the backup informer; kopf's event handler and daemon (controllers.backup); kopf patches "
        "its annotations",
    ),
    Permission(
        API_GROUP,
        "clusterimagebackups/status",
        ("patch",),
        Scope.CLUSTER_INSTALL,
        "status of a backup (Kube.patch_manager_status)",
    ),
    Permission(
        "apps",
        "deployments",
        ("list", "watch", "patch"),
        Scope.CLUSTER_INSTALL,
        "image backup: the workload informers; pointing a pod template at "
        "verified backups (Kube.patch_workload)",
    ),
    Permission(
        "apps",
        "daemonsets",
        ("list", "watch", "patch"),
        Scope.CLUSTER_INSTALL,
        "image backup, as for Deployments",
    ),
    Permission(
        "apps",
        "statefulsets",
        ("list", "watch", "patch"),
        Scope.CLUSTER_INSTALL,
        "image backup, as for Deployments",
    ),
    Permission(
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
        ("create",),
        Scope.WEBHOOK,
        "the first start writes the configuration (webhooks.ensure_configuration); RBAC "
        "cannot limit create to a name",
    ),
    Permission(
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
        ("get", "update"),
        Scope.WEBHOOK,
        "each start rewrites its own configuration with a fresh caBundle "
        "(webhooks.ensure_configuration)",
        resource_names=(WEBHOOK_CONFIGURATION_NAME,),
    ),
    Permission(
        "coordination.k8s.io",
        "leases",
        ("create",),
        Scope.LEADER_ELECTION,
        "the first replica creates the leader Lease (LeaderElection.try_acquire_or_renew); "
        "RBAC cannot limit create to a name",
    ),
    Permission(
        "coordination.k8s.io",
        "leases",
        ("get", "update"),
        Scope.LEADER_ELECTION,
        "every replica reads the leader Lease; the leader renews it, a standby takes it over, "
        "a clean stop releases it (LeaderElection)",
        resource_names=(LEASE_NAME,),
    ),
)
