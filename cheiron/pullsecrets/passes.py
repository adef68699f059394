"""One manager's Secret pass: where its Secrets go and what to write, for operator and dry run.

The operator's full pass, its pass over one new namespace and `cheiron plan` all call this,
so the dry run cannot drift from what the operator writes.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cheiron.api.observed import ManagerInfo, ManagerKind, NamespaceInfo, SecretInfo
from cheiron.pullsecrets.entries import EntryOutcome
from cheiron.pullsecrets.materialise import SecretWrites, secret_writes
from cheiron.pullsecrets.targets import SecretTargets, no_pods, owned_or_in, secret_targets
from cheiron.targeting import PodsIn


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
    writes = secret_writes(manager.uid, goes.written, goes.full, existing, goes.partial)
    return SecretPass(goes, existing, writes)
