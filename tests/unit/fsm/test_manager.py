"""The manager machine: the settled phase decides what a pass does, checked against a map."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from transitions import MachineError

from cheiron.api.models import ManagerStatus
from cheiron.fsm import manager as m
from tests.support.machines import follow_map


def test_a_new_manager_resolves_every_entry_then_settles_ready() -> None:
    machine = m.ManagerMachine(None)
    assert machine.state == m.PENDING
    assert [
        machine.fire(m.NEW_SPEC, m.Start()),
        machine.fire(m.RESOLVED),
        machine.fire(m.SETTLE, m.Progress()),
    ] == [m.RESOLVING, m.SYNCING, m.READY]


def test_a_degraded_manager_retries_and_its_new_spec_resolves_afresh() -> None:
    assert m.ManagerMachine(m.DEGRADED).fire(m.START, m.Start()) == m.RETRYING
    assert m.ManagerMachine(m.DEGRADED).fire(m.START, m.Start(inputs_changed=True)) == m.RESOLVING
    assert m.ManagerMachine(m.DEGRADED).fire(m.NEW_SPEC, m.Start()) == m.RESOLVING


def test_an_invalid_manager_waits_for_a_new_spec() -> None:
    for same_spec in (m.Start(valid=False), m.Start(inputs_changed=True)):
        with pytest.raises(MachineError):
            m.ManagerMachine(m.INVALID).fire(m.START, same_spec)
    assert m.ManagerMachine(m.INVALID).fire(m.NEW_SPEC, m.Start(valid=False)) == m.INVALID
    assert m.ManagerMachine(m.INVALID).fire(m.NEW_SPEC, m.Start()) == m.RESOLVING


def test_a_failed_entry_or_a_conflict_settles_degraded() -> None:
    assert m.settled_phase(m.Progress(failed_entries=1)) == m.DEGRADED
    assert m.settled_phase(m.Progress(conflicts=2)) == m.DEGRADED
    assert m.settled_phase(m.Progress(refused_namespaces=1)) == m.DEGRADED
    assert m.settled_phase(m.Progress(webhook_missing=True)) == m.DEGRADED
    assert m.settled_phase(m.Progress(rejected_credentials=1)) == m.DEGRADED
    assert m.settled_phase(m.Progress()) == m.READY


def test_phases_of_earlier_versions_and_mid_pass_phases_recover_as_pending() -> None:
    for phase in ("Materializing", "Annotating", m.RESOLVING, m.SYNCING, "Bogus", None):
        assert m.ManagerMachine(phase).state == m.PENDING
    for phase in (m.READY, m.DEGRADED, m.INVALID):
        assert m.ManagerMachine(phase).state == phase


# The machine as a map, written out by hand: (state, trigger, observation) -> destination, or
# None where the trigger is not allowed from that state (it must raise).
def _expected(state: str, trigger: str, o: m.Observed) -> str | None:  # noqa: PLR0911
    start = o if isinstance(o, m.Start) else m.Start()
    progress = o if isinstance(o, m.Progress) else m.Progress()
    if trigger in (m.NEW_SPEC, m.START):
        if state not in m.SETTLED or (trigger == m.START and state == m.INVALID):
            return None
        if not start.valid:
            return m.INVALID
        if trigger == m.START and state == m.DEGRADED and not start.inputs_changed:
            return m.RETRYING
        return m.RESOLVING
    if trigger == m.RESOLVED:
        return m.SYNCING if state in (m.RESOLVING, m.RETRYING) else None
    if trigger == m.SETTLE:
        if state != m.SYNCING:
            return None
        blocked = progress.failed_entries or progress.conflicts or progress.refused_namespaces
        undelivered = progress.webhook_missing or progress.rejected_credentials
        return m.DEGRADED if blocked or undelivered else m.READY
    if trigger == m.FAIL:
        return m.DEGRADED if state in (*m.WORKING, m.READY, m.DEGRADED) else None
    raise AssertionError(trigger)


starts = st.builds(m.Start, st.booleans(), st.booleans())
progresses = st.builds(
    m.Progress,
    st.integers(0, 2),
    st.integers(0, 2),
    st.integers(0, 2),
    st.booleans(),
    st.integers(0, 2),
)
steps = st.one_of(
    st.tuples(st.sampled_from([m.NEW_SPEC, m.START]), starts),
    st.tuples(st.sampled_from([m.RESOLVED, m.FAIL]), st.just(m.Progress())),
    st.tuples(st.just(m.SETTLE), progresses),
)


@given(start=st.sampled_from(m.STATES), path=st.lists(steps, max_size=10))
def test_random_trigger_paths_follow_the_state_map(
    start: str, path: list[tuple[str, m.Observed]]
) -> None:
    follow_map(m.STATES, m.TABLE, start, path, _expected)


@given(
    phase=st.sampled_from(m.SETTLED), trigger=st.sampled_from([m.NEW_SPEC, m.START]), start=starts
)
def test_a_pass_that_starts_always_ends_settled(phase: str, trigger: str, start: m.Start) -> None:
    """Whatever a pass starts with, resolved and settle bring it back to a settled state."""
    machine = m.ManagerMachine(phase)
    try:
        machine.fire(trigger, start)
    except MachineError:
        assert phase == m.INVALID
        return
    if machine.state == m.INVALID:
        return
    machine.fire(m.RESOLVED)
    assert machine.fire(m.SETTLE, m.Progress()) == m.READY


def test_the_crd_accepts_every_phase_the_machine_writes() -> None:
    schema = ManagerStatus.model_json_schema()["properties"]["phase"]
    allowed = {v for option in schema["anyOf"] for v in option.get("enum", [])}
    assert set(m.STATES) <= allowed
