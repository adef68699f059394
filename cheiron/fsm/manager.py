"""The manager controller's machine: the phases of one reconcile, as a transition table.

A reconcile walks Pending → Resolving → Materializing → Annotating → Ready, or ends Degraded
when an entry failed (the other entries still proceed) or a step raised. The phase is kept in
the manager's status, so a restarted operator shows where each manager stood.
"""

from dataclasses import dataclass

from cheiron.api.observed import SecretInfo
from cheiron.fsm import Transition, step
from cheiron.pullsecrets.entries import EntryOutcome

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
