"""The image machine of the backup controller: one source image on its way into the backup.

Pending → Copying → BackedUp, or Failed (and from there, once its backoff is over, Copying
again). An image becomes BackedUp only when the digest read back from the backup registry
equals the source's; that is the state workloads are pointed at, and only that one. The
state, the attempts and the next attempt are kept in the backup's status, so a restarted
operator resumes: a copy that was running when it stopped goes back to Pending.
"""

import datetime
from dataclasses import dataclass

from cheiron.api.models import ImageState
from cheiron.fsm import Transition, step

PENDING, COPYING, BACKED_UP, FAILED = (s.value for s in ImageState)
STATES = (PENDING, COPYING, BACKED_UP, FAILED)


@dataclass(frozen=True)
class CopyObservation:
    """What the guards look at: the clock, the retry schedule and the digests."""

    now: datetime.datetime | None = None
    next_attempt: datetime.datetime | None = None
    source_digest: str | None = None
    backup_digest: str | None = None


def retry_due(o: CopyObservation) -> bool:
    """A failed copy may run again: its backoff is over."""
    return o.next_attempt is None or o.now is None or o.now >= o.next_attempt


def verified(o: CopyObservation) -> bool:
    """The backup registry serves the source's digest."""
    return o.source_digest is not None and o.backup_digest == o.source_digest


TABLE: tuple[Transition[CopyObservation], ...] = (
    Transition("copy", PENDING, COPYING),
    Transition("copy", FAILED, COPYING, conditions=[retry_due]),
    Transition("done", COPYING, BACKED_UP, conditions=[verified]),
    Transition("done", COPYING, FAILED),
    Transition("error", COPYING, FAILED),
    # The operator stopped during a copy: nothing runs it any more.
    Transition("interrupted", COPYING, PENDING),
)


def fire(state: str, trigger: str, observed: CopyObservation | None = None) -> str:
    """The state after `trigger` (unchanged when a guard refuses)."""
    # A plain string: transitions would take an Enum member for an Enum state of its own.
    current = ImageState(state).value
    return step(STATES, TABLE, current, trigger, observed or CopyObservation())
