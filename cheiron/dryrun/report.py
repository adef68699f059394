"""The dry run's plan: what the operator would write now, computed with its own rules (pure).

Per manager: the Secrets it would create, update or delete, the Secrets it would refuse to
touch, and the ServiceAccounts whose imagePullSecrets or marks would change once every
manager's Secrets are in place.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from cheiron.api.models import Mode, SecretEntry
from cheiron.api.observed import AccountInfo, ManagerInfo, NamespaceInfo, SecretInfo
from cheiron.fsm import serviceaccount as sa_fsm
from cheiron.pullsecrets.entries import EntryOutcome
from cheiron.pullsecrets.marks import mark_patch, names_in_namespace
from cheiron.pullsecrets.materialise import SecretWrites, after_writes
from cheiron.pullsecrets.passes import secret_pass

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
    """What one manager would do."""

    key: str
    outcomes: tuple[EntryOutcome, ...]
    secrets: SecretWrites
    accounts: tuple[AccountChange, ...] = field(default=())

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


def plan(
    managers: Sequence[ManagerInfo],
    namespaces: Mapping[str, NamespaceInfo],
    secrets: Iterable[SecretInfo],
    accounts: Iterable[AccountInfo],
    pods: Iterable[AccountInfo],
    *,
    resolve: Resolve,
) -> list[ManagerPlan]:
    """Every manager's plan, and the ServiceAccount changes that follow from all of them."""
    by_ns: dict[str, list[AccountInfo]] = {}
    for pod in pods:
        by_ns.setdefault(pod.namespace, []).append(pod)

    def pods_in(namespace: str) -> list[AccountInfo]:
        return by_ns.get(namespace, [])

    current = list(secrets)
    drafts: list[tuple[ManagerInfo, tuple[EntryOutcome, ...], SecretWrites, set[str]]] = []
    for manager in managers:
        outcomes = tuple(resolve(manager, entry) for entry in manager.spec.secrets)
        one = secret_pass(manager, outcomes, namespaces, current, pods_in)
        wanted, existing, writes = set(one.targets.namespaces), one.existing, one.writes
        drafts.append((manager, outcomes, writes, wanted))
        seen = {(s.namespace, s.name) for s in existing}
        current = [
            *(s for s in current if (s.namespace, s.name) not in seen),
            *after_writes(existing, writes, manager.uid),
        ]
    after: dict[str, dict[str, SecretInfo]] = {}
    for s in current:
        after.setdefault(s.namespace, {})[s.name] = s
    changes: dict[tuple[str, str], AccountChange] = {}
    for account in accounts:
        info = namespaces.get(account.namespace)
        names = names_in_namespace(
            account.namespace,
            Mode.SERVICE_ACCOUNT,
            managers,
            namespaces,
            after.get(account.namespace, {}),
            pods_in=pods_in,
            account=account,
        )
        change = _account_change(account, names, info is None or not info.usable)
        if change is not None:
            changes[(account.namespace, account.name)] = change
    plans = []
    for manager, outcomes, writes, wanted in drafts:
        touched = wanted | {s.namespace for s in writes.delete}
        mine = tuple(
            c
            for (ns, _), c in sorted(changes.items())
            if manager.mode is Mode.SERVICE_ACCOUNT and ns in touched
        )
        plans.append(ManagerPlan(manager.key, outcomes, writes, mine))
    return plans
