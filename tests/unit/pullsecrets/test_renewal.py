"""Token renewals under a controllable clock (48 hours, never expired); failed entries' retries."""

import datetime
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cheiron.pullsecrets.entries import EntryOutcome
from cheiron.pullsecrets.renewal import (
    DEFAULT_LIFETIME,
    Cached,
    backoff,
    due,
    held,
    renew_at,
    with_retry,
)

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
LIFETIME = datetime.timedelta(hours=12)


def test_half_life_without_jitter() -> None:
    assert renew_at(T0, T0 + LIFETIME, 0.0) == T0 + datetime.timedelta(hours=6)


@given(st.floats(min_value=-5, max_value=5, allow_nan=False))
def test_jitter_stays_within_ten_percent(jitter: float) -> None:
    when = renew_at(T0, T0 + LIFETIME, jitter)
    assert (
        T0 + datetime.timedelta(hours=4, minutes=47)
        < when
        < T0 + datetime.timedelta(hours=7, minutes=13)
    )


def test_expiry_in_the_past_falls_back_to_twelve_hours() -> None:
    assert renew_at(T0, T0 - datetime.timedelta(days=1), 0.0) == T0 + DEFAULT_LIFETIME / 2


def test_lifetime_comes_from_expires_at() -> None:
    assert renew_at(T0, T0 + datetime.timedelta(hours=1), 0.0) == T0 + datetime.timedelta(
        minutes=30
    )


@pytest.mark.parametrize("seed", range(5))
def test_forty_eight_hours_never_expired_and_one_update_per_renewal(seed: int) -> None:
    rng = random.Random(seed)
    now, step = T0, datetime.timedelta(minutes=1)
    cached: Cached | None = None
    renewals = updates = 0
    payload_in_secret: bytes | None = None
    while now < T0 + datetime.timedelta(hours=48):
        if due(cached, now):
            # An issuer with a varying lifetime (ECR: 12 h, but never assume it).
            lifetime = datetime.timedelta(hours=rng.choice([1, 6, 12]))
            token = f"token-{renewals}".encode()
            cached = Cached(
                token, now + lifetime, renew_at(now, now + lifetime, rng.uniform(-1, 1))
            )
            renewals += 1
        assert cached is not None
        if payload_in_secret != cached.payload:
            payload_in_secret = cached.payload
            updates += 1
        assert now < cached.expires_at, "the Secret held an expired token"
        now += step
    assert updates == renewals
    assert renewals >= 48 / 12 * 2 - 1


def test_backoff_grows_and_caps() -> None:
    assert [backoff(n) for n in (1, 2, 3)] == [5.0, 10.0, 20.0]
    assert backoff(50) == 300.0


NOW = T0


def test_a_failure_counts_on_from_status_and_backs_off() -> None:
    failed = EntryOutcome("a", False, "EcrError", "GetAuthorizationToken failed")
    recorded = {"name": "a", "ready": False, "reason": "EcrError", "failures": 3}
    retried = with_retry(failed, recorded, NOW)
    assert retried.failures == 4
    assert retried.retry_at == NOW + datetime.timedelta(seconds=backoff(4))
    # A new spec starts counting again; a success carries no schedule.
    assert with_retry(failed, recorded, NOW, carry=False).failures == 1
    ok = EntryOutcome("a", True, "Resolved")
    assert with_retry(ok, recorded, NOW) == ok


def test_only_failures_whose_retry_is_not_due_are_held() -> None:
    later = "2026-01-01T00:00:30Z"
    recorded = {
        "waits": {
            "name": "waits",
            "ready": False,
            "reason": "EcrError",
            "retryAt": later,
            "failures": 2,
            "message": "m",
        },
        "due": {
            "name": "due",
            "ready": False,
            "reason": "EcrError",
            "retryAt": "2026-01-01T00:00:00Z",
        },
        "fine": {"name": "fine", "ready": True, "reason": "Resolved", "retryAt": later},
        "old": {"name": "old", "ready": False, "reason": "SecretNotFound"},
    }
    waiting = held(recorded, NOW)
    assert list(waiting) == ["waits"]
    outcome = waiting["waits"]
    assert (outcome.ok, outcome.reason, outcome.message, outcome.failures) == (
        False,
        "EcrError",
        "m",
        2,
    )
    assert outcome.retry_at == NOW + datetime.timedelta(seconds=30)
