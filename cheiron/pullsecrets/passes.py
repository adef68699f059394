"""One manager's pass, for the operator and `cheiron plan` alike (pure).

A pass is two steps around the Secret writes: `secret_pass` says what to write, and once
written (or, in a dry run, assumed written) `pass_outcome` says how the machine settles,
which objects of which namespaces carry which Secrets, and the status to report. The
operator's full pass, its pass over one namespace and the dry run all call these, so the
dry run cannot drift from what the operator does.
"""

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from cheiron.api.meta import NEEDS_RECREATION, RECONCILED, TRUE
from cheiron.api.models import Mode
from cheiron.api.observed import AccountInfo, ManagerInfo, ManagerKind, NamespaceInfo, SecretInfo
from cheiron.fsm import manager as machine
from cheiron.pullsecrets.entries import EntryOutcome
from cheiron.pullsecrets.marks import names_in_namespace
from cheiron.pullsecrets.materialise import SecretWrites, after_writes, secret_writes
from cheiron.pullsecrets.status import condition, entry_rows, refusal_lines, summary
from cheiron.pullsecrets.targets import SecretTargets, no_pods, owned_or_in, secret_targets
from cheiron.pullsecrets.verification import rejected_written
from cheiron.targeting import PodsIn


class ClusterView(Protocol):
    """What a pass reads of the cluster: the operator's caches, or a dry run's snapshot."""

    def namespace_map(self) -> Mapping[str, NamespaceInfo]:
        """Namespaces by name."""

    def managers_in(self, namespace: str) -> list[ManagerInfo]:
        """The managers that may act in `namespace`."""

    def accounts_in(self, namespace: str) -> list[AccountInfo]:
        """The ServiceAccounts of `namespace`."""

    def pods_in(self, namespace: str) -> list[AccountInfo]:
        """The Pods of `namespace`."""


@dataclass(frozen=True)
class SecretPass:
    """Where a manager's Secrets go, the Secrets it compared with, and the writes."""

    targets: SecretTargets
    existing: tuple[SecretInfo, ...]
    writes: SecretWrites


def secret_pass(
    manager: ManagerInfo,
    outcomes: tuple[EntryOutcome, ...],
    namespaces: Mapping[str, NamespaceInfo],
    secrets: Iterable[SecretInfo],
    pods_in: PodsIn = no_pods,
) -> SecretPass:
    """The Secret writes of one manager over `namespaces` (all of them, or just one).

    `secrets` are the observed Secrets to compare with; a namespaced manager only ever
    considers its own namespace's, so a Secret elsewhere that carries its owner label is
    never taken for its own.
    """
    if manager.kind is ManagerKind.NAMESPACED:
        secrets = (s for s in secrets if s.namespace == manager.namespace)
    goes = secret_targets(manager, outcomes, namespaces, pods_in)
    existing = tuple(owned_or_in(secrets, manager.uid, goes.namespaces))
    writes = secret_writes(
        manager.uid, goes.written, goes.full, existing, goes.partial, adopter=manager.name
    )
    return SecretPass(goes, existing, writes)


@dataclass(frozen=True)
class NamespaceMarks:
    """The `reconcile-with` list of every ServiceAccount and Pod of one namespace."""

    namespace: str
    # Opted out, being deleted or gone: its objects are cleaned, never marked.
    ignored: bool
    # The namespace's Secrets by name that the lists were computed with.
    secrets: Mapping[str, SecretInfo]
    accounts: tuple[tuple[AccountInfo, tuple[str, ...]], ...]
    pods: tuple[tuple[AccountInfo, tuple[str, ...]], ...]


def namespace_marks(
    namespace: str, view: ClusterView, secrets: Mapping[str, SecretInfo]
) -> NamespaceMarks:
    """What every manager that acts in `namespace` provides to each of its objects.

    `secrets` are the namespace's Secrets by name, as they are once the writes are made.
    """
    managers = view.managers_in(namespace)
    namespaces = view.namespace_map()
    info = namespaces.get(namespace)

    def names(mode: Mode, account: AccountInfo | None = None) -> tuple[str, ...]:
        return names_in_namespace(
            namespace,
            mode,
            managers,
            namespaces,
            secrets,
            pods_in=view.pods_in,
            account=account,
        )

    pod_names = names(Mode.POD)
    return NamespaceMarks(
        namespace,
        info is None or not info.usable,
        secrets,
        tuple((a, names(Mode.SERVICE_ACCOUNT, a)) for a in view.accounts_in(namespace)),
        tuple((p, pod_names) for p in view.pods_in(namespace)),
    )


@dataclass(frozen=True)
class PassOutcome:
    """How a pass settles: the machine's phase, the marks, and the status to report."""

    phase: str
    marks: tuple[NamespaceMarks, ...]
    status: dict[str, Any]
    reason: str
    message: str
    # What the machine settled on, for the caller that fires `settle` itself.
    progress: machine.Progress

    @property
    def ready(self) -> bool:
        """The manager is Ready."""
        return self.phase == machine.READY


def pass_outcome(
    manager: ManagerInfo,
    outcomes: tuple[EntryOutcome, ...],
    one: SecretPass,
    applied: SecretWrites,
    view: ClusterView,
    *,
    mark_in: Iterable[str],
    after: Iterable[SecretInfo] | None = None,
    previous: Mapping[str, Any],
    now: datetime.datetime,
    webhook_served: bool = True,
) -> PassOutcome:
    """What follows the writes `applied` (the planned ones, in a dry run).

    `mark_in` are the namespaces whose objects this pass marks; `after` the Secrets as
    they are once written (by default: what the pass compared with, plus `applied`);
    `webhook_served` whether this operator adds secrets to new Pods (Pod mode needs it).
    """
    goes = one.targets
    secrets = list(after) if after is not None else after_writes(one.existing, applied, manager.uid)
    marked = set(mark_in)
    by_namespace: dict[str, dict[str, SecretInfo]] = {ns: {} for ns in marked}
    for s in secrets:
        if s.namespace in by_namespace:
            by_namespace[s.namespace][s.name] = s
    marks = tuple(namespace_marks(ns, view, by_namespace[ns]) for ns in sorted(marked))

    refused_count, refusals = refusal_lines(applied.refused)
    pods = manager.mode is Mode.POD
    progress = machine.Progress(
        sum(1 for o in outcomes if not o.ok),
        len(applied.conflicts),
        refused_count,
        webhook_missing=pods and not webhook_served,
        rejected_credentials=sum(1 for o in outcomes if rejected_written(o)),
    )
    phase = machine.settled_phase(progress)
    reason, message = summary(
        outcomes,
        applied.conflicts,
        goes.overridden,
        applied.refused,
        webhook_missing=progress.webhook_missing,
    )
    objects = view.pods_in if pods else view.accounts_in
    reconciled = sum(
        1 for ns in goes.full for o in objects(ns) if o.annotations.get(RECONCILED) == TRUE
    )
    stuck = (
        sum(
            1
            for ns in goes.full
            for p in view.pods_in(ns)
            if p.annotations.get(NEEDS_RECREATION) == TRUE
        )
        if pods
        else 0
    )
    status = {
        "phase": phase,
        "observedGeneration": manager.generation,
        "conditions": [
            condition(previous, phase == machine.READY, reason, message, manager.generation, now)
        ],
        "secrets": (in_use := sorted({o.name for o in goes.written if o.ok})),
        "secretCount": len(in_use),
        "entries": entry_rows(outcomes),
        "targetNamespaces": len(goes.namespaces),
        "reconciledObjects": reconciled,
        "podsNeedingRecreation": stuck,
        "refusedNamespaces": refused_count,
        "refusals": refusals,
    }
    return PassOutcome(phase, marks, status, reason, message, progress)
