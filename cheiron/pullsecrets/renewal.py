"""When to renew a token: at half its lifetime, with jitter, never past its expiry (pure).

Spreading renewals (jitter) keeps many managers from renewing in the same second; the
lifetime comes from the `expiresAt` AWS returns, not from a fixed 12 hours, and only an
expiry that is already past (a clock skew or a fake endpoint) falls back to 12 hours.
"""

import datetime
from dataclasses import dataclass, field

DEFAULT_LIFETIME = datetime.timedelta(hours=12)
JITTER = 0.1  # +-10% of the lifetime around the half-life
MIN_DELAY = datetime.timedelta(seconds=30)


@dataclass(frozen=True)
class Cached:
    """A token's pull-Secret payload and its schedule."""

    payload: bytes = field(repr=False)
    expires_at: datetime.datetime
    renew_at: datetime.datetime
    # Which request the token answers (account, region, identity): a change refetches.
    identity: tuple[str, ...] = ()


def renew_at(
    issued: datetime.datetime, expires: datetime.datetime, jitter: float
) -> datetime.datetime:
    """Half-life plus `jitter` (in [-1, 1]) times 10% of the lifetime."""
    lifetime = expires - issued
    if lifetime <= datetime.timedelta(0):
        lifetime = DEFAULT_LIFETIME
    jitter = max(-1.0, min(1.0, jitter))
    return issued + max(MIN_DELAY, lifetime / 2 + lifetime * JITTER * jitter)


def due(cached: Cached | None, now: datetime.datetime) -> bool:
    """Whether a token must be fetched now."""
    return cached is None or now >= cached.renew_at or now >= cached.expires_at


def backoff(failures: int, base: float = 5.0, cap: float = 300.0) -> float:
    """Seconds to wait after `failures` failed attempts in a row."""
    return float(min(cap, base * 2.0 ** max(0, failures - 1)))
