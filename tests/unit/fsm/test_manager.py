"""The manager machine's table: every phase in order, Degraded on a failure or a conflict."""

import pytest
from transitions import MachineError

from cheiron.api.observed import DOCKERCONFIGJSON_TYPE, SecretInfo
from cheiron.fsm import manager as m
from cheiron.pullsecrets.entries import EntryOutcome


def test_happy_path_walks_every_phase() -> None:
    machine = m.ManagerMachine(None)
    assert machine.state == m.PENDING
    ok = m.Progress((EntryOutcome("a", True, "Resolved", payload=b"{}"),))
    assert [
        machine.fire("reconcile"),
        machine.fire("resolved"),
        machine.fire("materialized"),
        machine.fire("annotated", ok),
    ] == [m.RESOLVING, m.MATERIALIZING, m.ANNOTATING, m.READY]


def test_a_failed_entry_ends_degraded() -> None:
    machine = m.ManagerMachine(m.READY)
    bad = m.Progress((EntryOutcome("a", False, "SecretNotFound"),))
    for trigger in ("reconcile", "resolved", "materialized"):
        machine.fire(trigger)
    assert machine.fire("annotated", bad) == m.DEGRADED


def test_a_conflict_ends_degraded() -> None:
    machine = m.ManagerMachine(m.ANNOTATING)
    conflict = m.Progress((), (SecretInfo("ns", "a", DOCKERCONFIGJSON_TYPE),))
    assert machine.fire("annotated", conflict) == m.DEGRADED


def test_out_of_order_triggers_are_refused() -> None:
    with pytest.raises(MachineError):
        m.ManagerMachine(m.PENDING).fire("materialized")


def test_an_unknown_stored_phase_restarts_from_pending() -> None:
    assert m.ManagerMachine("Bogus").state == m.PENDING
