"""The renewal schedule under a controllable clock: 48 simulated hours, never expired."""

import datetime
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cheiron.pullsecrets.renewal import DEFAULT_LIFETIME, Cached, backoff, due, renew_at

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
