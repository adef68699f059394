"""Views of the watch caches that every handler decides from; nothing here asks the API server.

Nothing decides from a half-filled cache: the loops and the work queue start only once every
informer applied its first list, so a restarted operator never mistakes "not yet seen" for
"gone".
"""

from collections.abc import Iterable, Mapping
from typing import Any

from cheiron.api.models import Mode
from cheiron.api.observed import AccountInfo, ManagerInfo, ManagerKind, NamespaceInfo, SecretInfo
from cheiron.pullsecrets.marks import names_in_namespace, offered_for_recovery
from cheiron.runtime.caches import Caches, ManagerView, NamespaceMap
from cheiron.runtime.state import runtime


class Views:
    """The views a handler reads: the caches by kind, and what they say per namespace."""

    def __init__(self, caches: Caches) -> None:
        """Read the operator's caches."""
        self.caches = caches
        self.namespaces: NamespaceMap = caches.namespace_map()
        self.secrets = caches.secrets
        self.accounts = caches.accounts
        self.pods = caches.pods
        self.ipsm = caches.ipsm
        # Absent in a namespaced operator, which never watches cluster managers.
        self.cipsm = caches.cipsm
        # Image backup, a cluster-wide operator only.
        self.workloads = caches.workloads
        self.backups = caches.backups

    def managers(self) -> list[ManagerInfo]:
        """Every valid manager of both kinds."""
        return managers(self.ipsm, *([] if self.cipsm is None else [self.cipsm]))

    def managers_in(self, namespace: str) -> list[ManagerInfo]:
        """The managers that may act in `namespace`: every cluster manager, and its own.

        What per-namespace work reads instead of every manager: 500 namespaces with a
        manager each must not cost 500 x 500.
        """
        own = list(self.ipsm.get(namespace, []))
        return own if self.cipsm is None else [*own, *self.cipsm.all()]

    def namespace_map(self) -> Mapping[str, NamespaceInfo]:
        """Namespaces by name."""
        return self.namespaces

    def namespace_usable(self, namespace: str) -> bool:
        """The namespace exists, is not being deleted and did not opt out."""
        info = self.namespace_map().get(namespace)
        return info is not None and info.usable

    def accounts_in(self, namespace: str) -> list[AccountInfo]:
        """Indexed ServiceAccounts of a namespace."""
        return in_namespace(self.accounts, namespace)

    def pods_in(self, namespace: str) -> list[AccountInfo]:
        """Indexed Pods of a namespace."""
        return in_namespace(self.pods, namespace)

    def names(
        self,
        namespace: str,
        mode: Mode,
        *,
        secrets: Mapping[str, SecretInfo] | None = None,
        account: AccountInfo | None = None,
        include_pending: bool = False,
    ) -> tuple[str, ...]:
        """`reconcile-with` for `account` (or any object) of `mode` in `namespace`."""
        return names_in_namespace(
            namespace,
            mode,
            self.managers_in(namespace),
            self.namespace_map(),
            secrets if secrets is not None else self.secrets_in(namespace),
            include_pending=include_pending,
            pods_in=self.pods_in,
            account=account,
        )

    def offered(
        self, namespace: str, secrets: Mapping[str, SecretInfo], pod: AccountInfo
    ) -> dict[str, tuple[str, ...]]:
        """Pull Secrets a recreated `pod` would get from managers opted in to recovery."""
        return offered_for_recovery(
            namespace,
            self.managers_in(namespace),
            self.namespace_map(),
            secrets,
            service_accounts={
                a.name: a.pull_secrets for a in in_namespace(self.accounts, namespace)
            },
            service_account=pod.service_account,
            pods_in=self.pods_in,
        )

    def secrets_in(self, namespace: str) -> dict[str, SecretInfo]:
        """Indexed Secrets of a namespace by name."""
        return {s.name: s for s in in_namespace(self.secrets, namespace)}

    def secrets_for(self, manager: ManagerInfo) -> list[SecretInfo]:
        """The Secrets a manager's pass compares with: its namespace's, or all of them.

        An ImagePullSecretManager writes in its own namespace only, so its pass reads just
        that namespace's Secrets, not every Secret of the cluster.
        """
        if manager.kind is ManagerKind.NAMESPACED:
            return in_namespace(self.secrets, manager.namespace or "")
        return self.secrets.all()


# --- reading the views ---------------------------------------------------------------


def managers(*views: ManagerView) -> list[ManagerInfo]:
    """Every valid manager of the given kinds."""
    return [m for view in views for m in view.all()]


def in_namespace(index: Mapping[Any, Iterable[Any]], namespace: str) -> list[Any]:
    """The snapshots of a namespace-keyed view in `namespace`."""
    return list(index.get(namespace, []))


def current() -> Views:
    """The views of the running operator's caches."""
    caches = runtime().caches
    if caches is None:
        raise RuntimeError("the caches are not started")
    return Views(caches)
