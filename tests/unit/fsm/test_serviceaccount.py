"""The ServiceAccount machine: transition table, append-only-what-is-missing, cleanup."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cheiron.api.meta import ADDED, IGNORE, RECONCILABLE, RECONCILE_WITH, RECONCILED
from cheiron.api.observed import AccountInfo
from cheiron.fsm import serviceaccount as sa
from cheiron.fsm import step
from tests.support.machines import follow_map

WANT_AB = {RECONCILABLE: "true", RECONCILE_WITH: "a,b"}


def obs(
    annotations: dict[str, str], pull: tuple[str, ...] = (), ns_ignored: bool = False
) -> sa.Observed:
    return sa.Observed(AccountInfo("ns", "sa", annotations, pull, "7"), ns_ignored)


@pytest.mark.parametrize(
    ("annotations", "pull", "ns_ignored", "state"),
    [
        ({}, (), False, sa.UNMANAGED),
        ({}, ("user",), False, sa.UNMANAGED),
        (WANT_AB, (), False, sa.PENDING),
        (WANT_AB, ("a",), False, sa.PENDING),
        ({**WANT_AB, RECONCILED: "true", ADDED: "a,b"}, ("a", "b"), False, sa.RECONCILED_STATE),
        ({**WANT_AB, RECONCILED: "true"}, ("a", "b"), False, sa.RECONCILED_STATE),
        ({**WANT_AB, IGNORE: "true"}, (), False, sa.CLEANING),
        ({IGNORE: "true"}, ("user",), False, sa.IGNORED),
        ({RECONCILED: "true", ADDED: "a"}, ("a",), False, sa.CLEANING),
        ({**WANT_AB, RECONCILED: "true", ADDED: "a,b"}, ("a", "b"), True, sa.CLEANING),
        ({RECONCILABLE: "true", RECONCILE_WITH: ""}, (), False, sa.CLEANING),
    ],
)
def test_transition_table(
    annotations: dict[str, str], pull: tuple[str, ...], ns_ignored: bool, state: str
) -> None:
    assert sa.next_state(obs(annotations, pull, ns_ignored)) == state


def test_appends_only_missing_and_keeps_user_entries() -> None:
    state, patch = sa.plan(obs(WANT_AB, ("user", "a")))
    assert state == sa.PENDING
    assert patch is not None
    assert patch.pull_secrets == ("user", "a", "b")
    # "a" was there before cheiron: it is not cheiron's to remove later.
    assert patch.annotations == {RECONCILED: "true", ADDED: "b"}
    assert patch.body()["metadata"] == {  # type: ignore[comparison-overlap]
        "resourceVersion": "7",
        "annotations": {RECONCILED: "true", ADDED: "b"},
    }


def test_converged_account_needs_no_write() -> None:
    converged = obs({**WANT_AB, RECONCILED: "true", ADDED: "a,b"}, ("a", "b"))
    assert sa.plan(converged) == (sa.RECONCILED_STATE, None)


def test_removed_entry_is_dropped_only_if_cheiron_added_it() -> None:
    annotations = {
        RECONCILABLE: "true",
        RECONCILE_WITH: "a",
        RECONCILED: "true",
        ADDED: "a,b",
    }
    _, patch = sa.plan(obs(annotations, ("user", "a", "b")))
    assert patch is not None
    assert patch.pull_secrets == ("user", "a")
    assert patch.annotations == {ADDED: "a"}


def test_opt_out_removes_exactly_what_cheiron_added() -> None:
    annotations = {**WANT_AB, RECONCILED: "true", ADDED: "b", IGNORE: "true"}
    state, patch = sa.plan(obs(annotations, ("user", "a", "b")))
    assert state == sa.CLEANING
    assert patch is not None
    assert patch.pull_secrets == ("user", "a")
    assert patch.annotations == {
        RECONCILED: None,
        ADDED: None,
        RECONCILABLE: None,
        RECONCILE_WITH: None,
    }


names = st.lists(st.sampled_from(["a", "b", "c", "d", "user"]), unique=True, max_size=5)


@given(current=names, want=names)
def test_plan_reaches_a_fixed_point(current: list[str], want: list[str]) -> None:
    """Applying the plan once converges: the next plan writes nothing and nothing doubles."""
    annotations = {RECONCILABLE: "true", RECONCILE_WITH: ",".join(want)}
    account = AccountInfo("ns", "sa", annotations, tuple(current), "1")
    _, patch = sa.plan(sa.Observed(account))
    if patch is not None:
        merged = {**annotations, **{k: v for k, v in patch.annotations.items() if v is not None}}
        for k, v in patch.annotations.items():
            if v is None:
                merged.pop(k, None)
        pull = patch.pull_secrets if patch.pull_secrets is not None else tuple(current)
        account = AccountInfo("ns", "sa", merged, pull, "2")
    assert len(set(account.pull_secrets)) == len(account.pull_secrets)
    assert set(want) <= set(account.pull_secrets)
    assert set(current) <= set(account.pull_secrets)
    assert sa.plan(sa.Observed(account))[1] is None


# The machine as a map, written out by hand: (state, trigger) -> destination, as a function
# of the two guards (the account is complete; cheiron's leftovers are on it). None: the
# trigger is not allowed from that state and must raise.
def _expected(state: str, trigger: str, complete: bool, leftovers: bool) -> str | None:
    table: dict[tuple[str, str], str | None] = {
        (sa.UNMANAGED, sa.WANT): sa.PENDING,
        (sa.CLEANING, sa.WANT): sa.PENDING,
        (sa.IGNORED, sa.WANT): None,
        (sa.PENDING, sa.WANT): sa.RECONCILED_STATE if complete else sa.PENDING,
        (sa.RECONCILED_STATE, sa.WANT): sa.RECONCILED_STATE if complete else sa.PENDING,
        (sa.UNMANAGED, sa.OPT_OUT): sa.IGNORED,
        (sa.IGNORED, sa.OPT_OUT): sa.IGNORED,
        (sa.PENDING, sa.OPT_OUT): sa.CLEANING,
        (sa.RECONCILED_STATE, sa.OPT_OUT): sa.CLEANING,
        (sa.CLEANING, sa.OPT_OUT): sa.CLEANING if leftovers else sa.IGNORED,
        (sa.UNMANAGED, sa.WITHDRAW): sa.UNMANAGED,
        (sa.IGNORED, sa.WITHDRAW): sa.UNMANAGED,
    }
    for source in (sa.PENDING, sa.RECONCILED_STATE, sa.CLEANING):
        table[(source, sa.WITHDRAW)] = sa.CLEANING if leftovers else sa.UNMANAGED
    return table[(state, trigger)]


annotation_sets = st.fixed_dictionaries(
    {},
    optional={
        RECONCILABLE: st.just("true"),
        RECONCILE_WITH: st.sampled_from(["", "a", "a,b"]),
        RECONCILED: st.just("true"),
        ADDED: st.sampled_from(["a", "a,b"]),
        IGNORE: st.just("true"),
    },
)
observations = st.builds(
    obs, annotation_sets, st.sampled_from([(), ("a",), ("a", "b"), ("user", "a", "b")])
)


@given(
    start=st.sampled_from(sa.STATES),
    path=st.lists(st.tuples(st.sampled_from(sa.TRIGGERS), observations), max_size=8),
)
def test_random_trigger_paths_follow_the_state_map(
    start: str, path: list[tuple[str, sa.Observed]]
) -> None:
    follow_map(
        sa.STATES,
        sa.TABLE,
        start,
        path,
        lambda state, trigger, o: _expected(state, trigger, sa.complete(o), sa.has_leftovers(o)),
    )


def test_a_trigger_the_machine_does_not_know_raises() -> None:
    with pytest.raises(AttributeError):
        step(sa.STATES, sa.TABLE, sa.PENDING, "append", obs(WANT_AB))


@given(o=observations)
def test_every_observation_fires_an_allowed_trigger(o: sa.Observed) -> None:
    """What the controller fires is always allowed from the state it reads back."""
    assert sa.next_state(o) in sa.STATES
