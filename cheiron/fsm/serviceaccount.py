"""The ServiceAccount controller's machine: append the secrets of `reconcile-with`, or clean up.

States, derived from the ServiceAccount alone:
- Unmanaged: nothing of cheiron on it and nothing wanted;
- Pending: marked reconcilable, but entries or the `reconciled` mark are missing;
- Reconciled: every wanted Secret is listed and the mark is set;
- Cleaning: cheiron left entries or annotations that are no longer wanted (manager gone,
  opted out);
- Ignored: opted out and clean.

Each observation fires one trigger (want, withdraw or opt_out) from the state the annotations
show; the table says, per state, where it leads or that it may not happen.

Only entries that cheiron appended (remembered in the `added` annotation) are ever removed;
entries a user or another tool put there stay, and nothing is listed twice.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from cheiron.api.meta import (
    ADDED,
    PROTOCOL_ANNOTATIONS,
    RECONCILABLE,
    RECONCILE_WITH,
    RECONCILED,
    TRUE,
    is_ignored,
    join_names,
    split_names,
)
from cheiron.api.observed import AccountInfo
from cheiron.fsm import Transition, step

UNMANAGED, PENDING, RECONCILED_STATE, CLEANING, IGNORED = (
    "Unmanaged",
    "Pending",
    "Reconciled",
    "Cleaning",
    "Ignored",
)
STATES = (UNMANAGED, PENDING, RECONCILED_STATE, CLEANING, IGNORED)


@dataclass(frozen=True)
class Observed:
    """A ServiceAccount and whether its namespace opted out."""

    account: AccountInfo
    namespace_ignored: bool = False

    @property
    def annotations(self) -> Mapping[str, str]:
        """The account's annotations."""
        return self.account.annotations


def ignored(o: Observed) -> bool:
    """The account or its namespace opted out."""
    return o.namespace_ignored or is_ignored(o.annotations)


def wanted(o: Observed) -> bool:
    """The manager asked for secrets and nobody opted out."""
    return (
        not ignored(o)
        and o.annotations.get(RECONCILABLE) == TRUE
        and bool(split_names(o.annotations.get(RECONCILE_WITH)))
    )


def has_leftovers(o: Observed) -> bool:
    """Entries or marks of cheiron are on the object."""
    return any(key in o.annotations for key in PROTOCOL_ANNOTATIONS)


def complete(o: Observed) -> bool:
    """Nothing to write: the target list equals the current one and the marks are right."""
    return desired(o) == (o.account.pull_secrets, _marks(o))


def incomplete(o: Observed) -> bool:
    """Something is still to write: the list or the marks differ from the wanted ones."""
    return not complete(o)


# Triggers: what the observation says of the account, whatever state it is in.
WANT, WITHDRAW, OPT_OUT = "want", "withdraw", "opt_out"
TRIGGERS = (WANT, WITHDRAW, OPT_OUT)

# The state decides what may follow. From Cleaning, `want` leads to Pending, never straight
# to Reconciled: an account being cleaned up is marked reconciled only by a write that also
# carries its cleanup. An opted-out account is never wanted (`want` from Ignored raises): it
# is opted in first. Where a row has guards, the first row whose guards hold wins.
TABLE: tuple[Transition[Observed], ...] = (
    Transition(WANT, (UNMANAGED, CLEANING), PENDING),
    Transition(WANT, (PENDING, RECONCILED_STATE), RECONCILED_STATE, conditions=[complete]),
    Transition(WANT, (PENDING, RECONCILED_STATE), PENDING, conditions=[incomplete]),
    Transition(OPT_OUT, (UNMANAGED, IGNORED), IGNORED),
    Transition(OPT_OUT, (PENDING, RECONCILED_STATE), CLEANING),
    Transition(OPT_OUT, CLEANING, CLEANING, conditions=[has_leftovers]),
    Transition(OPT_OUT, CLEANING, IGNORED),
    Transition(WITHDRAW, (UNMANAGED, IGNORED), UNMANAGED),
    Transition(
        WITHDRAW, (PENDING, RECONCILED_STATE, CLEANING), CLEANING, conditions=[has_leftovers]
    ),
    Transition(WITHDRAW, (PENDING, RECONCILED_STATE, CLEANING), UNMANAGED),
)


def current_state(o: Observed) -> str:
    """The state the object is in, read from its annotations alone (so after a restart too)."""
    if ignored(o):
        return CLEANING if has_leftovers(o) else IGNORED
    if o.annotations.get(RECONCILED) == TRUE:
        return RECONCILED_STATE
    if o.annotations.get(RECONCILABLE) == TRUE:
        return PENDING
    return CLEANING if has_leftovers(o) else UNMANAGED


def trigger(o: Observed) -> str:
    """What the observation asks of the account."""
    if ignored(o):
        return OPT_OUT
    return WANT if wanted(o) else WITHDRAW


def next_state(o: Observed) -> str:
    """Where the observation's trigger leads from the account's current state."""
    return step(STATES, TABLE, current_state(o), trigger(o), o)


def _marks(o: Observed) -> dict[str, str]:
    return {k: o.annotations[k] for k in (RECONCILED, ADDED) if k in o.annotations}


def desired(o: Observed) -> tuple[tuple[str, ...], dict[str, str]]:
    """The pull-secret list and cheiron's marks the account should have."""
    current = o.account.pull_secrets
    added = set(split_names(o.annotations.get(ADDED)))
    want = split_names(o.annotations.get(RECONCILE_WITH)) if wanted(o) else ()
    # Drop what cheiron appended and no longer wants; keep everything else in its order.
    kept = tuple(name for name in current if name not in added or name in want)
    appended = tuple(name for name in want if name not in kept)
    still_ours = (added & set(kept)) | set(appended)
    marks: dict[str, str] = {}
    if want:
        marks[RECONCILED] = TRUE
        if still_ours:
            marks[ADDED] = join_names(still_ours)
    return kept + appended, marks


@dataclass(frozen=True)
class AccountPatch:
    """A merge patch guarded by resourceVersion: the pull-secret list has no merge key."""

    pull_secrets: tuple[str, ...] | None
    annotations: dict[str, str | None]
    resource_version: str

    def body(self) -> dict[str, object]:
        """The JSON merge patch. The resourceVersion turns a concurrent write into a 409."""
        metadata: dict[str, object] = {"resourceVersion": self.resource_version}
        if self.annotations:
            metadata["annotations"] = self.annotations
        patch: dict[str, object] = {"metadata": metadata}
        if self.pull_secrets is not None:
            patch["imagePullSecrets"] = [{"name": n} for n in self.pull_secrets]
        return patch


def plan(o: Observed) -> tuple[str, AccountPatch | None]:
    """The next state and the patch that gets there (None when nothing must change)."""
    state = next_state(o)
    if state not in (PENDING, CLEANING):
        return state, None
    pull_secrets, marks = desired(o)
    annotations: dict[str, str | None] = {}
    for key in (RECONCILED, ADDED):
        if marks.get(key) != o.annotations.get(key):
            annotations[key] = marks.get(key)
    if state == CLEANING:
        # Opted out or abandoned: the manager's marks go too.
        for key in (RECONCILABLE, RECONCILE_WITH, *PROTOCOL_ANNOTATIONS):
            if key in o.annotations:
                annotations[key] = None
    changed_list = pull_secrets != o.account.pull_secrets
    if not changed_list and not annotations:
        return state, None
    return state, AccountPatch(
        pull_secrets if changed_list else None, annotations, o.account.resource_version
    )
