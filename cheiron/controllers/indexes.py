"""In-memory indexes of what the watches see; every handler plans from these, not from GETs.

kopf fills all indexes before it calls any other handler, so a restarted operator plans from
a complete picture and never mistakes "not yet seen" for "gone".
"""

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import kopf
from pydantic import ValidationError

from cheiron import API_GROUP, API_VERSION
from cheiron.api.models import Mode
from cheiron.api.observed import (
    PLURALS,
    AccountInfo,
    BackupInfo,
    ManagerInfo,
    ManagerKind,
    NamespaceInfo,
    SecretInfo,
    WorkloadInfo,
    account_info,
    manager_info,
    namespace_info,
    relevant_secret,
    secret_info,
)
from cheiron.controllers.runtime import runtime
from cheiron.fsm.manager import names_in_namespace, offered_for_recovery, owned_or_in

log = logging.getLogger(__name__)

NamespaceIndex = kopf.Index[str, NamespaceInfo]
SecretIndex = kopf.Index[str, SecretInfo]
AccountIndex = kopf.Index[str, AccountInfo]
ManagerIndex = kopf.Index[None, ManagerInfo]
WorkloadIndex = kopf.Index[str, WorkloadInfo]
BackupIndex = kopf.Index[None, BackupInfo]


@kopf.index("", "v1", "namespaces")
def namespaces_idx(body: kopf.Body, **_: Any) -> dict[str, NamespaceInfo]:
    """Namespaces by name."""
    return {body.metadata.name: namespace_info(body)}


def _relevant_secret(body: kopf.Body, **_: Any) -> bool:
    # Only pull Secrets and cheiron's own matter; all others stay out of memory.
    return relevant_secret(body)


@kopf.index("", "v1", "secrets", when=_relevant_secret)
def secrets_idx(body: kopf.Body, **_: Any) -> dict[str, SecretInfo]:
    """Pull Secrets and cheiron's Secrets by namespace, with digests instead of data."""
    return {body.metadata.namespace or "": secret_info(body)}


@kopf.index("", "v1", "serviceaccounts")
def accounts_idx(body: kopf.Body, **_: Any) -> dict[str, AccountInfo]:
    """ServiceAccounts by namespace."""
    return {body.metadata.namespace or "": account_info(body)}


@kopf.index("", "v1", "pods")
def pods_idx(body: kopf.Body, **_: Any) -> dict[str, AccountInfo]:
    """Pods by namespace (their pull secrets and cheiron's annotations only)."""
    return {body.metadata.namespace or "": account_info(body, pod=True)}


def _manager(kind: ManagerKind, body: kopf.Body) -> dict[None, ManagerInfo]:
    try:
        return {None: manager_info(kind, body, eatr=runtime().eatr)}
    except ValidationError:
        # Reported on the manager by its own loop; an invalid spec provides nothing.
        return {}


@kopf.index(API_GROUP, API_VERSION, PLURALS[ManagerKind.NAMESPACED])
def ipsm_idx(body: kopf.Body, **_: Any) -> dict[None, ManagerInfo]:
    """Valid ImagePullSecretManagers."""
    return _manager(ManagerKind.NAMESPACED, body)


def cipsm_idx(body: kopf.Body, **_: Any) -> dict[None, ManagerInfo]:
    """Valid ClusterImagePullSecretManagers (registered by managers.watch_cluster_managers)."""
    return _manager(ManagerKind.CLUSTER, body)


class Indexes:
    """The indexes a handler reads, picked out of its kwargs (kopf passes them by name)."""

    def __init__(self, kwargs: Mapping[str, Any]) -> None:
        """Pick the indexes out of a handler's kwargs."""
        self.namespaces: NamespaceIndex = kwargs["namespaces_idx"]
        self.secrets: SecretIndex = kwargs["secrets_idx"]
        self.accounts: AccountIndex = kwargs["accounts_idx"]
        self.pods: AccountIndex = kwargs["pods_idx"]
        self.ipsm: ManagerIndex = kwargs["ipsm_idx"]
        # Absent in a namespaced operator, which never watches cluster managers.
        self.cipsm: ManagerIndex | None = kwargs.get("cipsm_idx")
        # Image backup, a cluster-wide operator only (controllers.backup.watch_backups).
        self.workloads: WorkloadIndex | None = kwargs.get("workloads_idx")
        self.backups: BackupIndex | None = kwargs.get("cib_idx")

    def managers(self) -> list[ManagerInfo]:
        """Every valid manager of both kinds."""
        return managers(self.ipsm, *([] if self.cipsm is None else [self.cipsm]))

    def namespace_map(self) -> dict[str, NamespaceInfo]:
        """Namespaces by name."""
        return one_per_key(self.namespaces)

    def namespace_usable(self, namespace: str) -> bool:
        """The namespace exists, is not being deleted and did not opt out."""
        info = self.namespace_map().get(namespace)
        return info is not None and info.usable

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
            self.managers(),
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
            self.managers(),
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

    def owned_and_targeted(self, owner_uid: str, namespaces: Iterable[str]) -> list[SecretInfo]:
        """Secrets of this owner anywhere, and every indexed Secret in the given namespaces."""
        return owned_or_in(
            (s for store in self.secrets.values() for s in store), owner_uid, namespaces
        )


# --- reading the indexes -------------------------------------------------------------


def one_per_key(index: Mapping[Any, Iterable[Any]]) -> dict[Any, Any]:
    """An index whose keys name exactly one object, as a plain dict."""
    return {key: next(iter(store)) for key, store in index.items() if store}


def managers(*indexes: ManagerIndex) -> list[ManagerInfo]:
    """Every valid manager of both kinds."""
    return [m for index in indexes for m in index.get(None, [])]


def in_namespace(index: Mapping[str, Iterable[Any]], namespace: str) -> list[Any]:
    """The objects of a namespace-keyed index in `namespace`."""
    return list(index.get(namespace, []))
