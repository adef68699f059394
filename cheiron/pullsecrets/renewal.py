"""When to renew a token or retry a failed entry (pure).

A token is renewed at half its lifetime, with jitter, never past its expiry.

Spreading renewals (jitter) keeps many managers from renewing in the same second; the
lifetime comes from the `expiresAt` AWS returns, not from a fixed 12 hours, and only an
expiry that is already past (a clock skew or a fake endpoint) falls back to 12 hours.
"""

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from cheiron.pullsecrets.entries import EntryOutcome
from cheiron.pullsecrets.verification import recorded_verdict

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


def parse_time(value: object) -> datetime.datetime | None:
    """A time as status holds it, or None."""
    try:
        return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def held(
    recorded: Mapping[str, Mapping[str, Any]], now: datetime.datetime
) -> dict[str, EntryOutcome]:
    """Failed entries of status (`entries`, by name) whose retry is not due yet.

    A Degraded manager reuses these as they were reported instead of asking again: a broken
    ECR entry must not call AWS at every wake-up of its manager.
    """
    waiting: dict[str, EntryOutcome] = {}
    for name, entry in recorded.items():
        retry = parse_time(entry.get("retryAt"))
        if entry.get("ready") or retry is None or retry <= now:
            continue
        waiting[name] = EntryOutcome(
            name,
            False,
            str(entry.get("reason") or "Unknown"),
            str(entry.get("message") or ""),
            expires_at=parse_time(entry.get("expiresAt")),
            failures=int(entry.get("failures") or 1),
            retry_at=retry,
            verification=recorded_verdict(entry),
            accepted_digest=str(entry.get("acceptedDigest") or "") or None,
        )
    return waiting


def with_retry(
    outcome: EntryOutcome,
    recorded: Mapping[str, Any] | None,
    now: datetime.datetime,
    *,
    carry: bool = True,
) -> EntryOutcome:
    """A fresh outcome with its failure count and next retry (`carry`: count on from status)."""
    if outcome.ok or outcome.retry_at is not None:
        return outcome
    before = (
        int(recorded.get("failures") or 0)
        if carry and recorded and not recorded.get("ready")
        else 0
    )
    failures = before + 1
    return replace(
        outcome,
        failures=failures,
        retry_at=now + datetime.timedelta(seconds=backoff(failures)),
    )
