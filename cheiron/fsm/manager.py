"""The manager controller's machine and its pure planning: Secrets to write, accounts to mark.

A reconcile walks Pending → Resolving → Materializing → Annotating → Ready, or ends Degraded
when an entry failed (the other entries still proceed) or a step raised. The phase is kept in
the manager's status, so a restarted operator shows where each manager stood.
"""

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from cheiron.api.meta import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    OWNER_ANNOTATION,
    OWNER_UID_LABEL,
    RECONCILABLE,
    RECONCILE_WITH,
    TRUE,
    is_ignored,
    join_names,
)
from cheiron.api.models import ClusterImagePullSecretManagerSpec, Mode, SecretEntry
from cheiron.api.observed import (
    DOCKERCONFIGJSON_TYPE,
    AccountInfo,
    ManagerInfo,
    ManagerKind,
    SecretInfo,
    digest,
)
from cheiron.dockerconfig import DockerConfig, merge
from cheiron.fsm import Transition, step
from cheiron.targeting import (
    NamespaceInfo,
    PodsIn,
    account_selected,
    cluster_targets,
    eatr_selected,
    namespaced_targets,
)

PENDING, RESOLVING, MATERIALIZING, ANNOTATING, READY, DEGRADED = (
    "Pending",
    "Resolving",
    "Materializing",
    "Annotating",
    "Ready",
    "Degraded",
)
STATES = (PENDING, RESOLVING, MATERIALIZING, ANNOTATING, READY, DEGRADED)


@dataclass(frozen=True)
class EntryOutcome:
    """What resolving one `spec.secrets` entry gave."""

    name: str
    ok: bool
    reason: str
    message: str = ""
    # The dockerconfigjson to materialise in each target; None when failed or used in place.
    payload: bytes | None = field(default=None, repr=False)
    # A namespaced manager's existingSecretRef: the Secret is used where it already is.
    in_place: bool = False
    # A cluster manager's existingSecretRef: (namespace, name) of the Secret copied. Where
    # the copy would land on the source itself, the source is used in place.
    source: tuple[str, str] | None = None
    # False: create the Secret where it is missing, but leave existing ones as they are.
    update: bool = True
    # ECR: when the token expires and when cheiron renews it.
    expires_at: datetime.datetime | None = None
    renew_at: datetime.datetime | None = None


@dataclass(frozen=True)
class Progress:
    """What the guards of the manager machine look at."""

    outcomes: tuple[EntryOutcome, ...] = ()
    conflicts: tuple[SecretInfo, ...] = ()


def all_entries_ready(p: Progress) -> bool:
    """Every entry resolved and no foreign Secret blocked one."""
    return all(o.ok for o in p.outcomes) and not p.conflicts


_WORKING = (RESOLVING, MATERIALIZING, ANNOTATING)
TABLE: tuple[Transition[Progress], ...] = (
    Transition("reconcile", (PENDING, READY, DEGRADED, *_WORKING), RESOLVING),
    Transition("resolved", RESOLVING, MATERIALIZING),
    Transition("materialized", MATERIALIZING, ANNOTATING),
    Transition("annotated", ANNOTATING, READY, conditions=[all_entries_ready]),
    Transition("annotated", ANNOTATING, DEGRADED),
    Transition("fail", _WORKING, DEGRADED),
)


class ManagerMachine:
    """One reconcile's walk through the table, starting from the phase in status."""

    def __init__(self, phase: str | None) -> None:
        """Start from the stored phase (Pending for a new manager)."""
        self.state = phase if phase in STATES else PENDING

    def fire(self, trigger: str, progress: Progress | None = None) -> str:
        """Fire a trigger; returns the new state."""
        self.state = step(STATES, TABLE, self.state, trigger, progress or Progress())
        return self.state


# --- targeting -------------------------------------------------------------------------


def _no_pods(_: str) -> Iterable[AccountInfo]:
    return ()


def targets(
    manager: ManagerInfo,
    namespaces: Mapping[str, NamespaceInfo],
    pods_in: PodsIn = _no_pods,
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
    pods_in: PodsIn = _no_pods,
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
    pods_in: PodsIn = _no_pods,
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


# --- materialising Secrets -------------------------------------------------------------


@dataclass(frozen=True)
class DesiredSecret:
    """A pull Secret cheiron wants in a namespace."""

    namespace: str
    name: str
    payload: bytes = field(repr=False)

    @property
    def digest(self) -> str:
        """Fingerprint of the payload, compared with what the watch saw."""
        return digest(self.payload)


@dataclass(frozen=True)
class SecretPlan:
    """The writes one reconcile makes to Secrets, and the Secrets it refused to touch."""

    create: tuple[DesiredSecret, ...] = ()
    update: tuple[DesiredSecret, ...] = ()
    delete: tuple[SecretInfo, ...] = ()
    conflicts: tuple[SecretInfo, ...] = ()

    @property
    def writes(self) -> int:
        """How many API writes the plan costs."""
        return len(self.create) + len(self.update) + len(self.delete)


def plan_secrets(
    owner_uid: str,
    outcomes: Sequence[EntryOutcome],
    target_namespaces: Sequence[str],
    existing: Iterable[SecretInfo],
    partial: Mapping[str, frozenset[str]] | None = None,
) -> SecretPlan:
    """Compare the wanted pull Secrets with the observed ones.

    A Secret of the same name that cheiron did not create for this owner is a conflict: it is
    never adopted or overwritten. A failed entry keeps whatever Secret it had (pulls keep
    working on the last good credentials). Secrets of this owner that no entry or target wants
    any more are deleted. `partial` adds namespaces that want only some entries (eatr).
    """
    partial = partial or {}
    seen = {(s.namespace, s.name): s for s in existing}
    wanted: set[tuple[str, str]] = set()
    create: list[DesiredSecret] = []
    update: list[DesiredSecret] = []
    conflicts: list[SecretInfo] = []
    for namespace in (*target_namespaces, *partial):
        only = partial.get(namespace) if namespace not in target_namespaces else None
        for outcome in outcomes:
            if outcome.in_place or (only is not None and outcome.name not in only):
                continue
            key = (namespace, outcome.name)
            if key == outcome.source:
                continue
            wanted.add(key)
            if outcome.payload is None:
                continue
            desired = DesiredSecret(namespace, outcome.name, outcome.payload)
            current = seen.get(key)
            if current is None:
                create.append(desired)
            elif current.owner_uid != owner_uid:
                conflicts.append(current)
            elif outcome.update and (
                current.digest != desired.digest or current.type != DOCKERCONFIGJSON_TYPE
            ):
                update.append(desired)
    delete = [
        s for key, s in sorted(seen.items()) if s.owner_uid == owner_uid and key not in wanted
    ]
    return SecretPlan(tuple(create), tuple(update), tuple(delete), tuple(conflicts))


NO_CREDENTIALS = "NoCredentials"


def merged_outcome(
    name: str, outcomes: Sequence[EntryOutcome]
) -> tuple[EntryOutcome, tuple[str, ...]]:
    """The one Secret of a manager with `target.secret`, and the registries given twice.

    Entries merge in spec order and the earlier wins per registry. While an entry fails, an
    existing merged Secret is left as it is (it still holds that entry's last good
    credentials); where none exists yet, one is created from the entries that work.
    """
    usable = [o.payload for o in outcomes if o.ok and o.payload is not None]
    if not usable:
        return EntryOutcome(name, False, NO_CREDENTIALS, "no entry resolved"), ()
    merged, overridden = merge([DockerConfig.parse(p) for p in usable])
    complete = all(o.ok for o in outcomes)
    return (
        EntryOutcome(name, True, "Resolved", payload=merged.to_json(), update=complete),
        overridden,
    )


def secret_labels(owner_uid: str) -> dict[str, str]:
    """Labels on every Secret cheiron creates: who manages it, and for which owner."""
    return {MANAGED_BY_LABEL: MANAGED_BY, OWNER_UID_LABEL: owner_uid}


def secret_annotations(manager: ManagerInfo) -> dict[str, str]:
    """A human-readable pointer to the owning manager."""
    return {OWNER_ANNOTATION: manager.key}


def apply_plan(
    existing: Iterable[SecretInfo], plan: SecretPlan, owner_uid: str
) -> list[SecretInfo]:
    """The Secrets as they will be once `plan` is written (the watch may lag behind)."""
    by_key = {(s.namespace, s.name): s for s in existing}
    for s in plan.delete:
        by_key.pop((s.namespace, s.name), None)
    for d in (*plan.create, *plan.update):
        by_key[(d.namespace, d.name)] = SecretInfo(
            d.namespace, d.name, DOCKERCONFIGJSON_TYPE, owner_uid, d.digest
        )
    return list(by_key.values())


# --- marking ServiceAccounts and Pods --------------------------------------------------


def names_in_namespace(
    namespace: str,
    mode: Mode,
    managers: Iterable[ManagerInfo],
    namespaces: Mapping[str, NamespaceInfo],
    secrets: Mapping[str, SecretInfo],
    *,
    include_pending: bool = False,
    pods_in: PodsIn = _no_pods,
    account: AccountInfo | None = None,
) -> tuple[str, ...]:
    """The pull Secrets every manager in `mode` provides in `namespace`, as `reconcile-with`.

    Only Secrets that exist count: cheiron's own for this manager, or, for a namespaced
    manager's existingSecretRef, the referenced pull Secret itself. A foreign Secret that
    happens to share a name is never attached. `secrets` is keyed by name, for `namespace`.

    `include_pending` also counts Secrets cheiron is about to create (no Secret of that name
    yet): admission uses it, because a Pod's list is fixed at creation while the kubelet
    retries a pull until the Secret it names appears.

    With `account`, managers whose serviceAccountSelector leaves it out do not count.
    """
    names: set[str] = set()
    info = namespaces.get(namespace)
    for manager in managers:
        if manager.mode is not mode:
            continue
        only: frozenset[str] | None = None
        if not acts_in(manager, namespace, namespaces, pods_in):
            only = eatr_entries(manager, info) if info is not None else frozenset()
            if not only:
                continue
        if account is not None and not account_selected(
            manager.spec.service_account_selector, account.name, account.labels
        ):
            continue
        if (merged := merged_name(manager)) is not None:
            secret = secrets.get(merged)
            if (secret is None and include_pending) or (
                secret is not None and secret.is_pull_secret and secret.owner_uid == manager.uid
            ):
                names.add(merged)
            continue
        for entry in manager.spec.secrets:
            if only is not None and entry.secret_name not in only:
                continue
            secret = secrets.get(entry.secret_name)
            own = in_place(manager, entry, namespace)
            if secret is None:
                if include_pending and not own:
                    names.add(entry.secret_name)
                continue
            if secret.is_pull_secret and (own or secret.owner_uid == manager.uid):
                names.add(entry.secret_name)
    return tuple(sorted(names))


def offered_for_recovery(
    namespace: str,
    managers: Iterable[ManagerInfo],
    namespaces: Mapping[str, NamespaceInfo],
    secrets: Mapping[str, SecretInfo],
    *,
    service_accounts: Mapping[str, tuple[str, ...]],
    service_account: str,
    pods_in: PodsIn = _no_pods,
) -> dict[str, tuple[str, ...]]:
    """Pull Secrets a recreated Pod would get from managers opted in to recovery.

    Maps each to the registries it covers. In ServiceAccount mode only what the Pod's
    ServiceAccount already lists counts: a replacement created earlier would be as stuck.
    """
    offered: dict[str, tuple[str, ...]] = {}
    account_list = service_accounts.get(service_account or "default", ())
    for manager in managers:
        if not manager.spec.recreate_stuck_pods:
            continue
        for name in names_in_namespace(
            namespace, manager.mode, [manager], namespaces, secrets, pods_in=pods_in
        ):
            if manager.mode is Mode.POD or name in account_list:
                offered[name] = secrets[name].registries
    return offered


def merged_name(manager: ManagerInfo) -> str | None:
    """The name of the manager's merged Secret, or None when it writes one per entry."""
    target = manager.spec.target
    return target.secret.name if target is not None and target.secret is not None else None


def in_place(manager: ManagerInfo, entry: SecretEntry, namespace: str) -> bool:
    """Whether `entry` uses an existing Secret where it is, in `namespace`, without a copy."""
    ref = entry.existing_secret_ref
    if ref is None or ref.name != entry.secret_name:
        return False
    source_namespace = getattr(ref, "namespace", None) or manager.namespace
    return source_namespace == namespace


def mark_patch(
    annotations: Mapping[str, str], names: Sequence[str], namespace_ignored: bool
) -> dict[str, str | None] | None:
    """The annotation changes that make an account carry `names` (None: nothing to change)."""
    if is_ignored(annotations) or namespace_ignored:
        # The ServiceAccount controller cleans an opted-out object; never mark it again.
        return None
    want: dict[str, str | None] = (
        {RECONCILABLE: TRUE, RECONCILE_WITH: join_names(names)}
        if names
        else {RECONCILABLE: None, RECONCILE_WITH: None}
    )
    patch = {k: v for k, v in want.items() if annotations.get(k) != v}
    return patch or None
