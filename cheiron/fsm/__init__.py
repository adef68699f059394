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
    model = _Model()
    machine = Machine(
        model=model,
        states=list(states),
        transitions=[row.as_dict() for row in table],
        initial=current,
        auto_transitions=False,
        ignore_invalid_triggers=False,
    )
    del machine  # the model keeps what it needs; only the trigger is used
    fired = getattr(model, trigger)(observed)
    if not fired:
        return current
    return model.state
