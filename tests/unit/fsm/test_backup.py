"""The image machine against an explicit map of states, triggers and observations."""

import datetime

import pytest
from transitions import MachineError

from cheiron.fsm.backup import (
    BACKED_UP,
    COPYING,
    FAILED,
    PENDING,
    STATES,
    CopyObservation,
    fire,
)

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
SECOND = datetime.timedelta(seconds=1)
D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


@pytest.mark.parametrize(
    ("state", "trigger", "observed", "expected"),
    [
        (PENDING, "copy", CopyObservation(), COPYING),
        (FAILED, "copy", CopyObservation(NOW, NOW + SECOND), FAILED),
        (FAILED, "copy", CopyObservation(NOW, NOW - SECOND), COPYING),
        (FAILED, "copy", CopyObservation(NOW, None), COPYING),
        (COPYING, "done", CopyObservation(source_digest=D1, backup_digest=D1), BACKED_UP),
        (COPYING, "done", CopyObservation(source_digest=D1, backup_digest=D2), FAILED),
        (COPYING, "done", CopyObservation(source_digest=D1, backup_digest=None), FAILED),
        (COPYING, "done", CopyObservation(source_digest=None, backup_digest=None), FAILED),
        (COPYING, "error", CopyObservation(), FAILED),
        (COPYING, "interrupted", CopyObservation(), PENDING),
    ],
)
def test_transitions(state: str, trigger: str, observed: CopyObservation, expected: str) -> None:
    assert fire(state, trigger, observed) == expected


@pytest.mark.parametrize(
    ("state", "trigger"),
    [
        (BACKED_UP, "copy"),
        (PENDING, "done"),
        (BACKED_UP, "error"),
        (PENDING, "interrupted"),
        (FAILED, "done"),
    ],
)
def test_refused_triggers(state: str, trigger: str) -> None:
    with pytest.raises(MachineError):
        fire(state, trigger)


def test_only_a_verified_copy_reaches_backed_up() -> None:
    # Every path into BackedUp passes the digest check.
    for state in STATES:
        for trigger in ("copy", "done", "error", "interrupted"):
            try:
                after = fire(state, trigger, CopyObservation(source_digest=D1, backup_digest=D2))
            except MachineError:
                continue
            assert after != BACKED_UP or state == BACKED_UP
