"""The Pod machine never writes a spec: it marks Pods reconciled or flags them once."""

import pytest

from cheiron.api.meta import IGNORE, NEEDS_RECREATION, RECONCILABLE, RECONCILE_WITH, RECONCILED
from cheiron.api.observed import AccountInfo
from cheiron.fsm import pod

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
