"""The controllers' state machines: states and transitions declared as data (transitions).

Every machine here is evaluated afresh from what was observed in the cluster: the current
state is derived from the object (annotations, status), the trigger runs the first
transition whose pure guards pass, and the destination names the action to take. Nothing
lives only in memory, so a restarted operator continues where the last one stopped.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from transitions import Machine

Obs = TypeVar("Obs")
Guard = Callable[[Obs], bool]


@dataclass(frozen=True)
class Transition(Generic[Obs]):
    """One row of a transition table."""

    trigger: str
    source: str | Sequence[str]
    dest: str
    conditions: Sequence[Callable[[Obs], bool]] = ()
    unless: Sequence[Callable[[Obs], bool]] = ()

    def as_dict(self) -> dict[str, Any]:
        """The row in the form `transitions.Machine` takes."""
        return {
            "trigger": self.trigger,
            "source": self.source if isinstance(self.source, str) else list(self.source),
            "dest": self.dest,
            "conditions": list(self.conditions),
            "unless": list(self.unless),
        }


class _Model:
    state: str


# One transitions.Machine per table, built at first use: building one costs far more than
# firing a trigger, and a pass fires thousands. Steps run on the event loop, one at a time.
_machines: dict[int, tuple[Machine, _Model, Sequence[Any]]] = {}


def _machine(states: Sequence[str], table: Sequence[Transition[Obs]]) -> tuple[Machine, _Model]:
    cached = _machines.get(id(table))
    if cached is not None and cached[2] is table:
        return cached[0], cached[1]
    model = _Model()
    machine = Machine(
        model=model,
        states=list(states),
        transitions=[row.as_dict() for row in table],
        initial=states[0],
        auto_transitions=False,
        ignore_invalid_triggers=False,
    )
    _machines[id(table)] = (machine, model, table)
    return machine, model


def step(
    states: Sequence[str],
    table: Sequence[Transition[Obs]],
    current: str,
    trigger: str,
    observed: Obs,
) -> str:
    """Fire `trigger` from `current` with `observed` as the guards' argument; the new state.

    Raises transitions.MachineError when no row allows the trigger from `current`.
    """
    machine, model = _machine(states, table)
    machine.set_state(current, model=model)
    fired = getattr(model, trigger)(observed)
    if not fired:
        return current
    return model.state
