"""The Pod machine never writes a spec: it marks Pods reconciled or flags them once."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cheiron.api.meta import IGNORE, NEEDS_RECREATION, RECONCILABLE, RECONCILE_WITH, RECONCILED
from cheiron.api.observed import AccountInfo
from cheiron.fsm import pod
from tests.support.machines import follow_map

WANT = {RECONCILABLE: "true", RECONCILE_WITH: "a,b"}


@pytest.mark.parametrize(
    ("annotations", "pull", "state", "patch", "report"),
    [
        ({}, (), pod.UNMANAGED, None, False),
        (WANT, ("a", "b"), pod.RECONCILED_STATE, {RECONCILED: "true"}, False),
        ({**WANT, RECONCILED: "true"}, ("a", "b"), pod.RECONCILED_STATE, None, False),
        (WANT, ("a",), pod.NEEDS_RECREATION_STATE, {NEEDS_RECREATION: "true"}, True),
        ({**WANT, NEEDS_RECREATION: "true"}, ("a",), pod.NEEDS_RECREATION_STATE, None, False),
        ({**WANT, IGNORE: "true"}, (), pod.IGNORED, None, False),
        ({NEEDS_RECREATION: "true"}, (), pod.UNMANAGED, {NEEDS_RECREATION: None}, False),
    ],
)
def test_pod_table(
    annotations: dict[str, str],
    pull: tuple[str, ...],
    state: str,
    patch: dict[str, str | None] | None,
    report: bool,
) -> None:
    observed = pod.Observed(AccountInfo("ns", "p", annotations, pull))
    assert pod.plan(observed) == (state, patch, report)


STUCK = AccountInfo(
    "ns", "p", {}, (), controller_kind="ReplicaSet", stuck_images=("ghcr.io/team/app:1",)
)


@pytest.mark.parametrize(
    ("account", "offered", "expected"),
    [
        (STUCK, {"gh": ("ghcr.io",)}, True),
        (STUCK, {"hub": ("https://index.docker.io/v1/",)}, False),
        (
            AccountInfo("ns", "p", {}, ("gh",), "", "", "ReplicaSet", STUCK.stuck_images),
            {"gh": ("ghcr.io",)},
            False,
        ),
        (
            AccountInfo("ns", "p", {}, (), controller_kind=None, stuck_images=STUCK.stuck_images),
            {"gh": ("ghcr.io",)},
            False,
        ),
        (AccountInfo("ns", "p", {}, (), controller_kind="ReplicaSet"), {"gh": ("ghcr.io",)}, False),
        (
            AccountInfo("ns", "p", {}, (), controller_kind="Node", stuck_images=STUCK.stuck_images),
            {"gh": ("ghcr.io",)},
            False,
        ),
    ],
    ids=[
        "stuck-owned",
        "other-registry",
        "already-has-it",
        "bare-pod",
        "not-stuck",
        "not-a-recreating-owner",
    ],
)
def test_should_recreate(
    account: AccountInfo, offered: dict[str, tuple[str, ...]], expected: bool
) -> None:
    assert pod.should_recreate(account, offered) is expected


# The machine as a map, written out by hand: (state, trigger) -> destination, as a function
# of one guard (the Pod lists every wanted secret). None: not allowed, must raise.
def _expected(state: str, trigger: str, has_all: bool) -> str | None:
    if trigger == pod.OPT_OUT:
        return pod.IGNORED
    if trigger == pod.WITHDRAW:
        return pod.UNMANAGED
    if state == pod.IGNORED:
        return None  # an opted-out Pod is opted in before it is wanted
    return pod.RECONCILED_STATE if has_all else pod.NEEDS_RECREATION_STATE


pods = st.builds(
    lambda annotations, pull: pod.Observed(AccountInfo("ns", "p", annotations, pull, "1")),
    st.fixed_dictionaries(
        {},
        optional={
            RECONCILABLE: st.just("true"),
            RECONCILE_WITH: st.sampled_from(["", "a", "a,b"]),
            RECONCILED: st.just("true"),
            NEEDS_RECREATION: st.just("true"),
            IGNORE: st.just("true"),
        },
    ),
    st.sampled_from([(), ("a",), ("a", "b")]),
)


@given(
    start=st.sampled_from(pod.STATES),
    path=st.lists(st.tuples(st.sampled_from(pod.TRIGGERS), pods), max_size=8),
)
def test_random_trigger_paths_follow_the_state_map(
    start: str, path: list[tuple[str, pod.Observed]]
) -> None:
    follow_map(
        pod.STATES,
        pod.TABLE,
        start,
        path,
        lambda state, trigger, o: _expected(state, trigger, pod.has_all(o)),
    )


@given(o=pods)
def test_every_observation_fires_an_allowed_trigger(o: pod.Observed) -> None:
    """What the controller fires is always allowed from the state it reads back."""
    assert pod.plan(o)[0] in pod.STATES
