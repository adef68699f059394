"""The operator's watch caches of the bulk kinds and of cheiron's resources, and views of them.

One informer per kind (per served namespace in a namespaced install), each keeping only the
slim snapshots of cheiron.api.observed. kopf keeps the managers' and backups' daemons and
finalizers, but nothing here goes through its per-object machinery.
"""

import asyncio
import functools
import itertools
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kubernetes.client import ApiClient
from pydantic import ValidationError

from cheiron import API_GROUP, API_VERSION
from cheiron.api.observed import (
    DOCKERCONFIGJSON_TYPE,
    PLURALS,
    AccountInfo,
    BackupInfo,
    ManagerInfo,
    ManagerKind,
    ManagerObject,
    NamespaceInfo,
    ParsedManagers,
    SecretInfo,
    WorkloadInfo,
    account_info,
    backup_info,
    manager_object,
    namespace_info,
    relevant_secret,
    secret_info,
    workload_info,
)
from cheiron.k8s.informer import Handler, Informer, Key
from cheiron.k8s.rest import AppsApi, CoreApi, CustomObjectsApi
from cheiron.targeting import Interest, interest

T = TypeVar("T")

BACKUP_PLURAL = "clusterimagebackups"
WORKLOAD_KINDS = {
    "deployments": "Deployment",
    "daemonsets": "DaemonSet",
    "statefulsets": "StatefulSet",
}


class GroupView(Mapping[Hashable, Sequence[T]]):
    """Several informers' snapshots by group, read like one index (group → snapshots)."""

    def __init__(self, informers: Sequence[Informer[T]]) -> None:
        """Read `informers` as one."""
        self.informers = tuple(informers)

    def __getitem__(self, group: Hashable) -> Sequence[T]:
        """The snapshots of one group; KeyError when there are none."""
        found = [v for i in self.informers for v in i.groups.get(group, {}).values()]
        if not found:
            raise KeyError(group)
        return found

    def __iter__(self) -> Iterator[Hashable]:
        """Every group with at least one snapshot."""
        if len(self.informers) == 1:
            return iter(list(self.informers[0].groups))
        return iter(dict.fromkeys(itertools.chain(*(i.groups for i in self.informers))))

    def __len__(self) -> int:
        """How many groups have snapshots."""
        return sum(1 for _ in self)

    def __contains__(self, group: object) -> bool:
        """Whether some informer has snapshots in `group`."""
        return any(group in i.groups for i in self.informers)

    def get_object(self, namespace: str, name: str) -> T | None:
        """One snapshot by namespace and name."""
        for informer in self.informers:
            if (value := informer.objects.get((namespace, name))) is not None:
                return value
        return None

    def all(self) -> list[T]:
        """Every snapshot."""
        return [v for i in self.informers for v in i.objects.values()]

    def add_handler(self, handler: Handler[T]) -> None:
        """Hear every informer's changes."""
        for informer in self.informers:
            informer.add_handler(handler)


class ManagerView(Mapping[Hashable, Sequence[ManagerInfo]]):
    """Managers of one kind by group: the valid ones as ManagerInfo, every one as an object."""

    def __init__(self, informers: Sequence[Informer[ManagerObject]]) -> None:
        """Read `informers` as one."""
        self.objects = GroupView(informers)
        self.informers = self.objects.informers

    def __getitem__(self, group: Hashable) -> Sequence[ManagerInfo]:
        """The valid managers of one group; KeyError when there are none."""
        found = [o.info for o in self.objects.get(group, ()) if o.info is not None]
        if not found:
            raise KeyError(group)
        return found

    def __iter__(self) -> Iterator[Hashable]:
        """Every group with at least one valid manager."""
        return iter([g for g in self.objects if g in self])

    def __len__(self) -> int:
        """How many groups have valid managers."""
        return sum(1 for _ in self)

    def __contains__(self, group: object) -> bool:
        """Whether a valid manager is in `group`."""
        return any(o.info is not None for o in self.objects.get(group, ()))

    def all(self) -> list[ManagerInfo]:
        """Every valid manager."""
        return [o.info for o in self.objects.all() if o.info is not None]

    def get_object(self, namespace: str, name: str) -> ManagerObject | None:
        """One manager, valid or not, by namespace ("" for a cluster manager) and name."""
        return self.objects.get_object(namespace, name)

    def add_handler(self, handler: Handler[ManagerObject]) -> None:
        """Hear every change of these managers (status too)."""
        self.objects.add_handler(handler)


class NamespaceMap(Mapping[str, NamespaceInfo]):
    """Namespaces by name, live: no copy per read."""

    def __init__(self, informer: Informer[NamespaceInfo]) -> None:
        """Read the Namespace informer."""
        self.informer = informer

    def __getitem__(self, name: str) -> NamespaceInfo:
        """One namespace; KeyError when unknown."""
        return self.informer.objects[("", name)]

    def __iter__(self) -> Iterator[str]:
        """Namespace names."""
        return iter([name for _ns, name in self.informer.objects])

    def __len__(self) -> int:
        """How many namespaces."""
        return len(self.informer.objects)

    def __contains__(self, name: object) -> bool:
        """Whether the namespace is known."""
        return ("", name) in self.informer.objects

    def values(self) -> Any:
        """Every NamespaceInfo."""
        return list(self.informer.objects.values())

    def items(self) -> Any:
        """(name, NamespaceInfo) pairs."""
        return [(name, info) for (_ns, name), info in self.informer.objects.items()]


def _namespace(value: Any) -> Hashable:
    return str(value.namespace)


def _everything(_value: Any) -> Hashable:
    return None


# Secrets cheiron reads whole: pull Secrets (existingSecretRef, the ones it writes, the
# ones it finds in namespaces). List pages are sized by bytes (Informer.page_bytes).
PULL_SECRETS = f"type={DOCKERCONFIGJSON_TYPE}"
# Every other Secret cheiron sees by its metadata only: a credentialsSecretRef may name an
# Opaque or basic-auth Secret, and its changes must wake the manager, which then reads it by
# name. Types no entry can read stay out of the stream altogether. Helm's release Secrets
# are the bulk of many clusters' Secrets (up to 1 MiB each).
OTHER_SECRETS = ",".join(
    f"type!={t}"
    for t in (
        DOCKERCONFIGJSON_TYPE,
        "helm.sh/release.v1",
        "kubernetes.io/service-account-token",
        "bootstrap.kubernetes.io/token",
    )
)


def _secret(body: Mapping[str, Any]) -> SecretInfo | None:
    # Only pull Secrets and cheiron's own are kept; handlers still hear of the others.
    return secret_info(body) if relevant_secret(body) else None


def _heard_only(_body: Mapping[str, Any]) -> None:
    # Handlers hear of the Secret (a reference may name it); the cache keeps nothing of it.
    return None


def _valid(make: Callable[[Mapping[str, Any]], T]) -> Callable[[Mapping[str, Any]], T | None]:
    def transform(body: Mapping[str, Any]) -> T | None:
        try:
            return make(body)
        except ValidationError:
            return None  # reported on the object by its own loop; provides nothing

    return transform


@dataclass
class Caches:
    """Every informer of one operator process."""

    namespaces: Informer[NamespaceInfo]
    secrets: GroupView[SecretInfo]
    accounts: GroupView[AccountInfo]
    pods: GroupView[AccountInfo]
    ipsm: ManagerView
    cipsm: ManagerView | None = None
    backups: GroupView[BackupInfo] | None = None
    workloads: GroupView[WorkloadInfo] | None = None
    started: bool = field(default=False)
    # The label and annotation keys the accounts' and Pods' snapshots keep (`refresh_interest`).
    interest: Interest = field(default_factory=Interest)
    # Informers listing anew because `interest` grew; their snapshots lack keys until done.
    relisting: set[str] = field(default_factory=set)
    _current: asyncio.Event | None = field(default=None, init=False, repr=False)
    _starting: "asyncio.Task[None] | None" = field(default=None, init=False, repr=False)

    @property
    def informers(self) -> list[Informer[Any]]:
        """All informers."""
        views: list[GroupView[Any] | ManagerView | None] = [
            self.secrets,
            self.accounts,
            self.pods,
            self.ipsm,
            self.cipsm,
            self.backups,
            self.workloads,
        ]
        return [self.namespaces, *(i for v in views if v is not None for i in v.informers)]

    @property
    def synced(self) -> bool:
        """Every informer applied its first list (safe from any thread).

        Workloads count once they are started: until a backup exists nothing reads them.
        """
        return self.started and all(i.has_synced for i in self._needed)

    @property
    def _deferred(self) -> list[Informer[Any]]:
        """The informers started only once something needs them: workloads, for backups."""
        return list(self.workloads.informers) if self.workloads is not None else []

    @property
    def _needed(self) -> list[Informer[Any]]:
        deferred = self._deferred
        return [i for i in self.informers if i.started or i not in deferred]

    def start_workloads(self) -> None:
        """Start listing workloads, if not yet (loop only): a backup exists that reads them."""
        for informer in self._deferred:
            if not informer.started:
                informer.start()

    async def wait_workloads(self) -> None:
        """Start the workload informers if need be, and return once they listed."""
        self.start_workloads()
        for informer in self._deferred:
            await informer.wait_synced()

    def namespace_map(self) -> NamespaceMap:
        """Namespaces by name."""
        return NamespaceMap(self.namespaces)

    @property
    def _labelled(self) -> list[Informer[Any]]:
        """The informers whose snapshots keep only the keys of `interest`."""
        return [*self.accounts.informers, *self.pods.informers]

    @property
    def _selecting(self) -> list[Informer[Any]]:
        """The informers `interest` is computed from."""
        views: list[GroupView[Any] | ManagerView | None] = [self.ipsm, self.cipsm, self.workloads]
        # Workloads not yet started (no backup) select nothing; once they list, their changes
        # refresh the interest like the managers' do.
        return [i for v in views if v is not None for i in v.informers if i in self._needed]

    def start(self) -> None:
        """Start every informer (from the event loop that reads them).

        ServiceAccounts and Pods are listed once the managers (and workloads) are: by then the
        keys their selectors read are known, so the first list keeps them and needs no second.
        """
        later = [*self._labelled, *self._deferred]
        for informer in self.informers:
            if informer not in later:
                informer.start()
        self.started = True
        self._starting = asyncio.get_running_loop().create_task(
            self._start_labelled(self._labelled)
        )

    async def _start_labelled(self, labelled: list[Informer[Any]]) -> None:
        for informer in self._selecting:
            await informer.wait_synced()
        self.refresh_interest()
        for informer in labelled:
            informer.start()

    def refresh_interest(self) -> None:
        """Recompute the keys the selectors read; list anew what would lack one (loop only)."""
        ignored = [w.selector for w in self.workloads.all() if w.ignored] if self.workloads else []
        managers = [*self.ipsm.all(), *(self.cipsm.all() if self.cipsm is not None else [])]
        wanted = interest(managers, ignored)
        before, self.interest = self.interest, wanted
        grew = [
            *(self.accounts.informers if wanted.account_labels - before.account_labels else []),
            *(
                self.pods.informers
                if (wanted.pod_labels - before.pod_labels)
                or (wanted.pod_annotations - before.pod_annotations)
                else []
            ),
        ]
        for informer in grew:
            if not informer.started:
                continue  # its first list reads the new interest
            self.relisting.add(informer.name)
            if self._current is not None:
                self._current.clear()
            informer.relist(then=functools.partial(self._relisted, informer.name))

    def _relisted(self, name: str) -> None:
        self.relisting.discard(name)
        if not self.relisting and self._current is not None:
            self._current.set()

    async def wait_current(self) -> None:
        """Return once every informer listed, with the keys today's selectors read."""
        await self.wait_synced()
        if not self.relisting:
            return
        if self._current is None:
            self._current = asyncio.Event()
        await self._current.wait()

    async def wait_synced(self) -> None:
        """Return once every informer applied its first list (of workloads: if started)."""
        for informer in self._needed:
            await informer.wait_synced()

    def stop(self) -> None:
        """Stop every informer."""
        for informer in self.informers:
            informer.stop(timeout=1.0)


def build_caches(
    api: ApiClient,
    *,
    namespaces: Sequence[str] = (),
    eatr: bool = False,
    cluster: bool = True,
) -> Caches:
    """The informers `cheiron run` needs: per served namespace, or cluster-wide.

    `cluster` adds cluster managers, backups and workloads (a cluster-wide operator only).
    """
    core, custom, apps = CoreApi(api), CustomObjectsApi(api), AppsApi(api)

    def per_namespace(
        name: str,
        all_fn: Callable[..., Any],
        one_fn: Callable[..., Any],
        transform: Callable[[Mapping[str, Any]], T | None],
        field_selector: str | None = None,
        **options: Any,
    ) -> GroupView[T]:
        if not namespaces:
            return GroupView(
                [
                    Informer(
                        name,
                        all_fn,
                        transform,
                        _namespace,
                        field_selector=field_selector,
                        **options,
                    )
                ]
            )
        return GroupView(
            [
                Informer(
                    f"{name}@{ns}",
                    one_fn,
                    transform,
                    _namespace,
                    (ns,),
                    field_selector=field_selector,
                    **options,
                )
                for ns in namespaces
            ]
        )

    def account(body: Mapping[str, Any]) -> AccountInfo:
        # Read at each call (informer threads): the keys of the interest in force.
        return account_info(body, label_keys=caches.interest.account_labels)

    def pod(body: Mapping[str, Any]) -> AccountInfo:
        keys = caches.interest
        return account_info(
            body, pod=True, label_keys=keys.pod_labels, annotation_keys=keys.pod_annotations
        )

    # Specs parsed, per kind and manager UID; a manager's entry goes with it.
    parsed: dict[ManagerKind, ParsedManagers] = {kind: {} for kind in ManagerKind}

    def namespaced_manager(body: Mapping[str, Any]) -> ManagerObject:
        kind = ManagerKind.NAMESPACED
        return manager_object(kind, body, eatr=eatr, parsed=parsed[kind])

    def cluster_manager(body: Mapping[str, Any]) -> ManagerObject:
        kind = ManagerKind.CLUSTER
        return manager_object(kind, body, eatr=eatr, parsed=parsed[kind])

    def custom_objects(
        plural: str,
        transform: Callable[[Mapping[str, Any]], T | None],
        group: Callable[[T], Hashable],
    ) -> GroupView[T]:
        """One of cheiron's kinds: in each served namespace, or across the cluster."""
        if not namespaces or plural != PLURALS[ManagerKind.NAMESPACED]:
            args = (API_GROUP, API_VERSION, plural)
            return GroupView(
                [Informer(plural, custom.list_cluster_custom_object, transform, group, args)]
            )
        list_fn = custom.list_namespaced_custom_object
        return GroupView(
            [
                Informer(
                    f"{plural}@{ns}",
                    list_fn,
                    transform,
                    group,
                    (API_GROUP, API_VERSION, ns, plural),
                )
                for ns in namespaces
            ]
        )

    caches = Caches(
        namespaces=Informer("namespaces", core.list_namespace, namespace_info, lambda n: n.name),
        secrets=GroupView(
            [
                *per_namespace(
                    "secrets",
                    core.list_secret_for_all_namespaces,
                    core.list_namespaced_secret,
                    _secret,
                    PULL_SECRETS,
                ).informers,
                *per_namespace(
                    "secrets:metadata",
                    core.list_secret_for_all_namespaces,
                    core.list_namespaced_secret,
                    _heard_only,
                    OTHER_SECRETS,
                    metadata_only=True,
                ).informers,
            ]
        ),
        accounts=per_namespace(
            "serviceaccounts",
            core.list_service_account_for_all_namespaces,
            core.list_namespaced_service_account,
            account,
        ),
        pods=per_namespace("pods", core.list_pod_for_all_namespaces, core.list_namespaced_pod, pod),
        ipsm=ManagerView(
            custom_objects(
                PLURALS[ManagerKind.NAMESPACED], namespaced_manager, _namespace
            ).informers
        ),
    )
    if cluster and not namespaces:
        caches.cipsm = ManagerView(
            custom_objects(PLURALS[ManagerKind.CLUSTER], cluster_manager, _everything).informers
        )
    for kind, view in ((ManagerKind.NAMESPACED, caches.ipsm), (ManagerKind.CLUSTER, caches.cipsm)):
        if view is not None:
            view.add_handler(_forget_parsed(parsed[kind]))
            view.add_handler(_on_new_spec(caches.refresh_interest))
    if cluster and not namespaces:
        backups = caches.backups = custom_objects(BACKUP_PLURAL, _valid(backup_info), _everything)
        workload_lists = {
            "deployments": apps.list_deployment_for_all_namespaces,
            "daemonsets": apps.list_daemon_set_for_all_namespaces,
            "statefulsets": apps.list_stateful_set_for_all_namespaces,
        }
        caches.workloads = GroupView(
            [
                Informer(plural, fn, _workload(WORKLOAD_KINDS[plural]), _namespace)
                for plural, fn in workload_lists.items()
            ]
        )
        # An opted-out workload's Pod selector is read from its Pods' labels.
        caches.workloads.add_handler(lambda *_change: caches.refresh_interest())
        # Tenants' workloads (templates, annotations) cost nothing until a backup reads them.
        backups.add_handler(lambda *_change: caches.start_workloads() if backups.all() else None)
    return caches


def _unlisted(*_args: Any, **_kwargs: Any) -> Any:
    raise RuntimeError("a fixed view is never listed")


def fixed_caches(
    namespaces: Iterable[NamespaceInfo],
    secrets: Iterable[SecretInfo],
    accounts: Iterable[AccountInfo],
    pods: Iterable[AccountInfo],
    managers: Iterable[ManagerInfo],
) -> Caches:
    """Caches that hold a snapshot read once (a dry run, a simulation): never listed again."""

    def view(
        name: str, group: Callable[[T], Hashable], items: Iterable[tuple[Key, T]]
    ) -> Informer[T]:
        informer: Informer[T] = Informer(name, _unlisted, _nothing, group)
        informer.fill(items)
        return informer

    managers = list(managers)
    return Caches(
        namespaces=view("namespaces", lambda n: n.name, ((("", n.name), n) for n in namespaces)),
        secrets=GroupView(
            [view("secrets", _namespace, (((s.namespace, s.name), s) for s in secrets))]
        ),
        accounts=GroupView(
            [view("serviceaccounts", _namespace, (((a.namespace, a.name), a) for a in accounts))]
        ),
        pods=GroupView([view("pods", _namespace, (((p.namespace, p.name), p) for p in pods))]),
        ipsm=ManagerView(
            [
                view(
                    "ipsm",
                    _namespace,
                    (
                        ((m.namespace or "", m.name), _observed(m))
                        for m in managers
                        if m.kind is ManagerKind.NAMESPACED
                    ),
                )
            ]
        ),
        cipsm=ManagerView(
            [
                view(
                    "cipsm",
                    _everything,
                    (
                        (("", m.name), _observed(m))
                        for m in managers
                        if m.kind is ManagerKind.CLUSTER
                    ),
                )
            ]
        ),
        started=True,
    )


def _on_new_spec(then: Callable[[], None]) -> Handler[ManagerObject]:
    """Call `then` when a manager comes, goes or changes its spec; not at its status writes."""

    def handler(
        _kind: str, _key: Key, old: ManagerObject | None, new: ManagerObject | None
    ) -> None:
        if old is None or new is None or old.generation != new.generation:
            then()

    return handler


def _forget_parsed(parsed: ParsedManagers) -> Handler[ManagerObject]:
    """Drop a deleted manager's parsed spec (it may hold inline credentials)."""

    def handler(
        _kind: str, _key: Key, old: ManagerObject | None, new: ManagerObject | None
    ) -> None:
        if new is None and old is not None:
            parsed.pop(old.uid, None)

    return handler


def _observed(manager: ManagerInfo) -> ManagerObject:
    """A valid manager read once, as the manager informer would keep it (without a body)."""
    return ManagerObject(
        kind=manager.kind,
        namespace=manager.namespace,
        name=manager.name,
        uid=manager.uid,
        resource_version="",
        generation=manager.generation,
        deleting=manager.deleting,
        finalizers=(),
        legacy_copy=False,
        info=manager,
        body={},
    )


def _nothing(_body: Mapping[str, Any]) -> None:
    return None


def _workload(kind: str) -> Callable[[Mapping[str, Any]], WorkloadInfo]:
    def transform(body: Mapping[str, Any]) -> WorkloadInfo:
        return workload_info(kind, body)

    return transform
