"""The Pod controller's machine: a Pod's spec is immutable, so it only marks and reports.

States, derived from the Pod alone:
- Unmanaged: no manager in Pod mode wants secrets on it;
- Reconciled: it was created with every wanted Secret (the webhook put them there);
- NeedsRecreation: it lacks some; flagged once with an annotation and an Event, because
  only recreating it can help;
- Ignored: opted out.
Each observation fires one trigger (want, withdraw or opt_out) from the state the annotations
show; the table says, per state, where it leads or that it may not happen.
Only metadata is ever written; `spec.imagePullSecrets` of an existing Pod is never touched.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from cheiron.api.meta import (
    NEEDS_RECREATION,
    RECONCILABLE,
    RECONCILE_WITH,
    RECONCILED,
    TRUE,
    is_ignored,
    split_names,
)
from cheiron.api.observed import AccountInfo
from cheiron.dockerconfig import covers
from cheiron.fsm import Transition, step

UNMANAGED, RECONCILED_STATE, NEEDS_RECREATION_STATE, IGNORED = (
    "Unmanaged",
    "Reconciled",
    "NeedsRecreation",
    "Ignored",
)
STATES = (UNMANAGED, RECONCILED_STATE, NEEDS_RECREATION_STATE, IGNORED)


@dataclass(frozen=True)
class Observed:
    """A Pod and whether its namespace opted out."""

    pod: AccountInfo
    namespace_ignored: bool = False


def ignored(o: Observed) -> bool:
    """The Pod or its namespace opted out."""
    return o.namespace_ignored or is_ignored(o.pod.annotations)


def wanted(o: Observed) -> bool:
    """A manager in Pod mode asked for secrets on this Pod."""
    return (
        not ignored(o)
        and o.pod.annotations.get(RECONCILABLE) == TRUE
        and bool(split_names(o.pod.annotations.get(RECONCILE_WITH)))
    )


def missing(o: Observed) -> tuple[str, ...]:
    """Wanted secrets the Pod was created without."""
    want = split_names(o.pod.annotations.get(RECONCILE_WITH))
    return tuple(n for n in want if n not in o.pod.pull_secrets)


def has_all(o: Observed) -> bool:
    """The Pod already lists every wanted secret."""
    return not missing(o)


def lacks_some(o: Observed) -> bool:
    """The Pod misses a wanted secret, and only its recreation can add it."""
    return not has_all(o)


# Triggers: what the observation says of the Pod, whatever state it is in.
WANT, WITHDRAW, OPT_OUT = "want", "withdraw", "opt_out"
TRIGGERS = (WANT, WITHDRAW, OPT_OUT)

# A Pod's list is fixed at creation: a wanted Pod is Reconciled or NeedsRecreation by what it
# was born with, and moves between the two only as the wanted list changes. An opted-out Pod
# is never wanted (`want` from Ignored raises): it is opted in first.
TABLE: tuple[Transition[Observed], ...] = (
    Transition(
        WANT,
        (UNMANAGED, RECONCILED_STATE, NEEDS_RECREATION_STATE),
        RECONCILED_STATE,
        conditions=[has_all],
    ),
    Transition(
        WANT,
        (UNMANAGED, RECONCILED_STATE, NEEDS_RECREATION_STATE),
        NEEDS_RECREATION_STATE,
        conditions=[lacks_some],
    ),
    Transition(WITHDRAW, STATES, UNMANAGED),
    Transition(OPT_OUT, STATES, IGNORED),
)


def current_state(o: Observed) -> str:
    """The state read from the Pod's annotations."""
    annotations = o.pod.annotations
    if ignored(o):
        return IGNORED
    if annotations.get(NEEDS_RECREATION) == TRUE:
        return NEEDS_RECREATION_STATE
    if annotations.get(RECONCILED) == TRUE:
        return RECONCILED_STATE
    return UNMANAGED


def trigger(o: Observed) -> str:
    """What the observation asks of the Pod."""
    if ignored(o):
        return OPT_OUT
    return WANT if wanted(o) else WITHDRAW


def plan(o: Observed) -> tuple[str, dict[str, str | None] | None, bool]:
    """The next state, the annotation patch (None: none) and whether to report recreation."""
    before = current_state(o)
    state = step(STATES, TABLE, before, trigger(o), o)
    want: dict[str, str | None] = {RECONCILED: None, NEEDS_RECREATION: None}
    if state == RECONCILED_STATE:
        want[RECONCILED] = TRUE
    elif state == NEEDS_RECREATION_STATE:
        want[NEEDS_RECREATION] = TRUE
    patch = {k: v for k, v in want.items() if o.pod.annotations.get(k) != v}
    report = state == NEEDS_RECREATION_STATE and before != NEEDS_RECREATION_STATE
    return state, patch or None, report


# The owners that recreate a deleted Pod; a bare Pod would simply be gone.
RECREATING_OWNERS = frozenset({"ReplicaSet", "StatefulSet", "DaemonSet", "Job"})


def should_recreate(pod: AccountInfo, offered: Mapping[str, tuple[str, ...]]) -> bool:
    """Delete-to-recover: owned by a controller, stuck pulling from a registry it lacks.

    `offered` maps the pull Secrets that opted-in managers provide in the namespace to the
    registries each covers.
    """
    if pod.controller_kind not in RECREATING_OWNERS or not pod.stuck_images:
        return False
    missing = [
        r
        for name, registries in offered.items()
        if name not in pod.pull_secrets
        for r in registries
    ]
    return any(covers(registry, image) for image in pod.stuck_images for registry in missing)
