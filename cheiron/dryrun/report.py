"""The dry run's plan: what the operator would write now, computed with its own rules (pure).

Per manager: the Secrets it would create, update or delete, the Secrets it would refuse to
touch, the ServiceAccounts whose imagePullSecrets or marks would change once every
manager's Secrets are in place, and the phase and Ready condition it would report.
"""

import datetime
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from cheiron.api.models import Mode, SecretEntry
from cheiron.api.observed import AccountInfo, ManagerInfo, NamespaceInfo, SecretInfo
from cheiron.fsm import serviceaccount as sa_fsm
from cheiron.pullsecrets.entries import EntryOutcome
from cheiron.pullsecrets.marks import mark_patch
from cheiron.pullsecrets.materialise import SecretWrites, after_writes
from cheiron.pullsecrets.passes import SecretPass, pass_outcome, secret_pass

Resolve = Callable[[ManagerInfo, SecretEntry], EntryOutcome]


@dataclass(frozen=True)
class AccountChange:
    """A ServiceAccount whose list or marks would change."""

    namespace: str
    name: str
    before: tuple[str, ...]
    after: tuple[str, ...]


@dataclass(frozen=True)
class ManagerPlan:
    """What one manager would do, and the status it would report."""

    key: str
    outcomes: tuple[EntryOutcome, ...]
    secrets: SecretWrites
    accounts: tuple[AccountChange, ...] = field(default=())
    phase: str = ""
    reason: str = ""
    message: str = ""

    @property
    def changes(self) -> bool:
        """Whether applying would write anything."""
        return bool(self.secrets.writes or self.accounts)


def _account_change(
    account: AccountInfo, names: Sequence[str], namespace_ignored: bool
) -> AccountChange | None:
    marks = mark_patch(account.annotations, names, namespace_ignored)
    annotations = {**account.annotations, **(marks or {})}
    marked = replace(account, annotations={k: v for k, v in annotations.items() if v is not None})
    pull_secrets, _ = sa_fsm.desired(sa_fsm.Observed(marked, namespace_ignored))
    if marks is None and sa_fsm.complete(sa_fsm.Observed(marked, namespace_ignored)):
        return None
    return AccountChange(account.namespace, account.name, account.pull_secrets, pull_secrets)


class _Snapshot:
    """A dry run's ClusterView: what `cheiron plan` read, grouped by namespace."""

    def __init__(
        self,
        managers: Sequence[ManagerInfo],
        namespaces: Mapping[str, NamespaceInfo],
        accounts: Iterable[AccountInfo],
        pods: Iterable[AccountInfo],
    ) -> None:
        self._managers = list(managers)
        self._namespaces = namespaces
        self._accounts: dict[str, list[AccountInfo]] = {}
        self._pods: dict[str, list[AccountInfo]] = {}
        for group, objects in ((self._accounts, accounts), (self._pods, pods)):
            for o in objects:
                group.setdefault(o.namespace, []).append(o)

    def namespace_map(self) -> Mapping[str, NamespaceInfo]:
        return self._namespaces

    def managers_in(self, namespace: str) -> list[ManagerInfo]:
        # Every manager: the marks count only those that act in `namespace`.
        return self._managers

    def accounts_in(self, namespace: str) -> list[AccountInfo]:
        return self._accounts.get(namespace, [])

    def pods_in(self, namespace: str) -> list[AccountInfo]:
        return self._pods.get(namespace, [])


def plan(
    managers: Sequence[ManagerInfo],
    namespaces: Mapping[str, NamespaceInfo],
    secrets: Iterable[SecretInfo],
    accounts: Iterable[AccountInfo],
    pods: Iterable[AccountInfo],
    *,
    resolve: Resolve,
    now: datetime.datetime,
) -> list[ManagerPlan]:
    """Every manager's plan, with the operator's own pass (cheiron.pullsecrets.passes).

    The ServiceAccount changes are those once every manager's Secrets are in place, as a
    converged operator leaves them.
    """
    view = _Snapshot(managers, namespaces, accounts, pods)
    current = list(secrets)
    drafts: list[tuple[ManagerInfo, tuple[EntryOutcome, ...], SecretPass]] = []
    for manager in managers:
        outcomes = tuple(resolve(manager, entry) for entry in manager.spec.secrets)
        one = secret_pass(manager, outcomes, namespaces, current, view.pods_in)
        drafts.append((manager, outcomes, one))
        seen = {(s.namespace, s.name) for s in one.existing}
        current = [
            *(s for s in current if (s.namespace, s.name) not in seen),
            *after_writes(one.existing, one.writes, manager.uid),
        ]
    plans = []
    for manager, outcomes, one in drafts:
        touched = {*one.targets.namespaces, *(s.namespace for s in one.writes.delete)}
        result = pass_outcome(
            manager,
            outcomes,
            one,
            one.writes,
            view,
            mark_in=touched,
            after=current,
            previous={},
            now=now,
        )
        changes = (
            [
                change
                for marks in result.marks
                for account, names in marks.accounts
                if (change := _account_change(account, names, marks.ignored)) is not None
            ]
            if manager.mode is Mode.SERVICE_ACCOUNT
            else []
        )
        plans.append(
            ManagerPlan(
                manager.key,
                outcomes,
                one.writes,
                tuple(sorted(changes, key=lambda c: (c.namespace, c.name))),
                result.phase,
                result.reason,
                result.message,
            )
        )
    return plans
