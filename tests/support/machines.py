"""Walks a transition table along a path of triggers and checks it against a state map."""

from collections.abc import Callable, Sequence
from typing import TypeVar

import pytest
from transitions import MachineError

from cheiron.fsm import Transition, step

Obs = TypeVar("Obs")


def follow_map(
    states: Sequence[str],
    table: Sequence[Transition[Obs]],
    start: str,
    path: Sequence[tuple[str, Obs]],
    expected: Callable[[str, str, Obs], str | None],
) -> None:
    """Fire each (trigger, observation) in turn from `start`.

    `expected(state, trigger, observation)` is the map: the destination, or None where the
    trigger is not allowed, which must raise (and ends the walk).
    """
    state = start
    for trigger, observed in path:
        destination = expected(state, trigger, observed)
        if destination is None:
            with pytest.raises(MachineError):
                step(states, table, state, trigger, observed)
            return
        state = step(states, table, state, trigger, observed)
        assert state == destination, (trigger, observed)
