"""The manager controller's machine: what a pass does, decided by the phase in status.

Settled states, kept in `status.phase` so that a restarted operator continues from them:
- Pending: a new manager, nothing reported yet;
- Ready: every entry resolved and every Secret written;
- Degraded: an entry failed, its registry rejected it, or a foreign Secret blocked one; the
  rest still work;
- Invalid: the spec failed validation (the CRD schema should have refused it).

A pass fires `new_spec` when the spec's generation differs from the one status reports on,
else `start`; the state decides what the pass does:
- `new_spec`, from any settled state: Resolving, every entry afresh (Invalid if the spec is);
- `start` from Pending or Ready: Resolving (inline entries cost nothing, tokens come from
  their cache);
- `start` from Degraded: Retrying, where a failed entry is tried again only once its backoff
  (recorded in status) ran out, unless a Secret an entry reads changed (then Resolving);
- `start` from Invalid is refused: nothing happens until the spec changes.
Then `resolved` leads to Syncing (Secrets and marks are written), and `settled` to Ready or
Degraded. A pass that raises, working or reporting, fires `fail` and ends Degraded.
"""

from dataclasses import dataclass

from cheiron.fsm import Transition, step

PENDING, RESOLVING, RETRYING, SYNCING, READY, DEGRADED, INVALID = (
    "Pending",
    "Resolving",
    "Retrying",
    "Syncing",
    "Ready",
    "Degraded",
    "Invalid",
)
STATES = (PENDING, RESOLVING, RETRYING, SYNCING, READY, DEGRADED, INVALID)
SETTLED = (PENDING, READY, DEGRADED, INVALID)
WORKING = (RESOLVING, RETRYING, SYNCING)

NEW_SPEC, START, RESOLVED, SETTLE, FAIL = "new_spec", "start", "resolved", "settle", "fail"
TRIGGERS = (NEW_SPEC, START, RESOLVED, SETTLE, FAIL)


@dataclass(frozen=True)
class Start:
    """What `new_spec` and `start` look at: the spec, and the Secrets entries read."""

    valid: bool = True
    # A Secret an entry reads (credentials, existingSecretRef) changed since the last pass.
    inputs_changed: bool = False


@dataclass(frozen=True)
class Progress:
    """What `settle` looks at: failed entries, foreign Secrets, refusing namespaces, webhook.

    `webhook_missing`: Pod mode without the admission webhook, so no new Pod gets secrets.
    """

    failed_entries: int = 0
    conflicts: int = 0
    refused_namespaces: int = 0
    webhook_missing: bool = False
    # Entries written although their registry rejected them (verification: Warn).
    rejected_credentials: int = 0


Observed = Start | Progress


def _start(o: Observed) -> Start:
    return o if isinstance(o, Start) else Start()


def invalid(o: Observed) -> bool:
    """The spec failed validation."""
    return not _start(o).valid


def inputs_changed(o: Observed) -> bool:
    """A Secret an entry reads changed: every failed entry is tried again at once."""
    return _start(o).inputs_changed


def all_written(o: Observed) -> bool:
    """Every entry resolved and written: no foreign Secret blocked one, no namespace refused."""
    p = o if isinstance(o, Progress) else Progress()
    return not (p.failed_entries or p.conflicts or p.refused_namespaces)


def accepted(o: Observed) -> bool:
    """No entry was written with credentials its registry rejected."""
    return not (o.rejected_credentials if isinstance(o, Progress) else 0)


def deliverable(o: Observed) -> bool:
    """What is written reaches its objects: in Pod mode, a webhook is there to add it."""
    return not (o.webhook_missing if isinstance(o, Progress) else False)


# Where a row has guards, the first row whose guards hold wins.
TABLE: tuple[Transition[Observed], ...] = (
    Transition(NEW_SPEC, SETTLED, INVALID, conditions=[invalid]),
    Transition(NEW_SPEC, SETTLED, RESOLVING),
    Transition(START, (PENDING, READY, DEGRADED), INVALID, conditions=[invalid]),
    Transition(START, (PENDING, READY), RESOLVING),
    Transition(START, DEGRADED, RESOLVING, conditions=[inputs_changed]),
    Transition(START, DEGRADED, RETRYING),
    Transition(RESOLVED, (RESOLVING, RETRYING), SYNCING),
    Transition(SETTLE, SYNCING, READY, conditions=[all_written, deliverable, accepted]),
    Transition(SETTLE, SYNCING, DEGRADED),
    # A pass that raised, while working or in reporting what it settled on.
    Transition(FAIL, (*WORKING, READY, DEGRADED), DEGRADED),
)

# Phases earlier versions wrote; a pass from them starts as from a new manager.
_EARLIER = {"Materializing": PENDING, "Annotating": PENDING}


def recovered(phase: object) -> str:
    """The settled state a stored phase stands for (Pending when unknown or mid-pass)."""
    state = _EARLIER.get(str(phase), str(phase))
    return state if state in SETTLED else PENDING


def settled_phase(progress: Progress) -> str:
    """Where a pass that wrote its Secrets and marks settles (fires `settle` from Syncing)."""
    return step(STATES, TABLE, SYNCING, SETTLE, progress)


class ManagerMachine:
    """One pass's walk through the table, starting from the phase in status."""

    def __init__(self, phase: object) -> None:
        """Start from the stored phase (Pending for a new manager)."""
        self.state = recovered(phase)

    def fire(self, trigger: str, observed: Observed | None = None) -> str:
        """Fire a trigger; returns the new state (transitions.MachineError if not allowed)."""
        self.state = step(STATES, TABLE, self.state, trigger, observed or Progress())
        return self.state
