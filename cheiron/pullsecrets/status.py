"""A manager's status after a pass: phase, Ready condition, entries and counts (pure).

Never holds a credential: entries report their name, reason and schedule, not a payload.
"""

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from cheiron.api.models import REFUSALS_SHOWN, ConditionStatus
from cheiron.api.observed import SecretInfo, digest
from cheiron.api.sources import VerificationResult
from cheiron.pullsecrets.entries import EntryOutcome
from cheiron.pullsecrets.materialise import Refusal
from cheiron.pullsecrets.verification import CREDENTIALS_REJECTED, rejected_written

SECRET_CONFLICT = "SecretConflict"  # noqa: S105 - a reason, not a password
RECONCILED_REASON = "Reconciled"
WRITE_REFUSED = "WriteRefused"
WEBHOOK_NOT_SERVED = "WebhookNotServed"
# Sentences of each kind of trouble named in the Ready message; the rest are counted.
SHOWN = 5
# One sentence, an entry's message in status, and the whole Ready message: far below the
# CRD's 32 KiB, so that status is always written (an oversized one is refused with 422).
SENTENCE_LIMIT = 512
ENTRY_MESSAGE_LIMIT = 2048
MESSAGE_LIMIT = 8192
WEBHOOK_MESSAGE = (
    "Pod mode adds imagePullSecrets when a Pod is created, through cheiron's admission "
    "webhook, and this operator serves none (cheiron run --webhook-port): Pods created now "
    "get no secrets"
)


def iso(value: datetime.datetime | None) -> str | None:
    """A time as the API writes it, or None."""
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def condition(  # noqa: PLR0917 - the fields of a condition
    previous: Mapping[str, Any],
    ready: bool,
    reason: str,
    message: str,
    generation: int,
    now: datetime.datetime,
) -> dict[str, Any]:
    """The Ready condition, keeping its transition time while its status stays the same."""
    value = ConditionStatus.TRUE if ready else ConditionStatus.FALSE
    before = next((c for c in previous.get("conditions", []) if c.get("type") == "Ready"), None)
    since = before["lastTransitionTime"] if before and before.get("status") == value else iso(now)
    return {
        "type": "Ready",
        "status": str(value),
        "reason": reason,
        "message": message,
        "lastTransitionTime": since,
        "observedGeneration": generation,
    }


def ready_message(previous: Mapping[str, Any]) -> str | None:
    """The message of the Ready condition in `previous` status."""
    return next(
        (c.get("message") for c in previous.get("conditions", []) if c.get("type") == "Ready"),
        None,
    )


def refusal_lines(refused: Sequence[Refusal]) -> tuple[int, list[str]]:
    """How many namespaces refused a write, and the first few refusals (sorted)."""
    lines = sorted({r.describe() for r in refused})
    return len({r.namespace for r in refused}), lines[:REFUSALS_SHOWN]


def _clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, saying so."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first_few(sentences: Sequence[str], more: str) -> list[str]:
    """The first SHOWN sentences, each clipped, then how many more there are (`more`: noun)."""
    shown = [_clip(s, SENTENCE_LIMIT) for s in sentences[:SHOWN]]
    if len(sentences) > SHOWN:
        shown.append(f"and {len(sentences) - SHOWN} more {more}")
    return shown


def _conflict_lines(conflicts: Sequence[SecretInfo]) -> list[str]:
    names = sorted({f"{c.namespace}/{c.name}" for c in conflicts})
    if len(names) == 1:
        return [f"Secret {names[0]} exists and is not managed by this manager; not overwritten"]
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return [
        f"{len(names)} Secrets exist and are not managed by this manager; not overwritten: "
        f"{', '.join(names[:SHOWN])}{more}"
    ]


def summary(
    outcomes: Sequence[EntryOutcome],
    conflicts: Sequence[SecretInfo],
    overridden: Sequence[str],
    refused: Sequence[Refusal] = (),
    *,
    webhook_missing: bool = False,
) -> tuple[str, str]:
    """The reason and message of the Ready condition.

    A missing webhook first (nothing reaches a new Pod), then failures, conflicts, refusals.
    Each kind of trouble is counted with its first few named, and the whole message is cut
    below the CRD's limit: however many namespaces or entries there are, status is written.
    """
    failed = [o for o in outcomes if not o.ok]
    rejected = [o for o in outcomes if rejected_written(o)]
    parts = [WEBHOOK_MESSAGE] if webhook_missing else []
    parts += _first_few([f"entry {o.name}: {o.message}" for o in failed], "entries failed")
    parts += _first_few(
        [
            f"entry {o.name}: written, but {o.verification.message} (verification: Warn)"
            for o in rejected
            if o.verification is not None
        ],
        "entries written with rejected credentials",
    )
    parts += _conflict_lines(conflicts)
    if refused:
        count, lines = refusal_lines(refused)
        more = f" and in {count - len(lines)} more" if count > len(lines) else ""
        noun = "namespace" if count == 1 else "namespaces"
        parts.append(
            f"writes refused in {count} {noun} (retried with backoff): {'; '.join(lines)}{more}"
        )
    if webhook_missing:
        reason, message = WEBHOOK_NOT_SERVED, "; ".join(parts)
    elif failed:
        reason, message = failed[0].reason, "; ".join(parts)
    elif rejected:
        reason, message = CREDENTIALS_REJECTED, "; ".join(parts)
    elif conflicts:
        reason, message = SECRET_CONFLICT, "; ".join(parts)
    elif refused:
        reason, message = WRITE_REFUSED, "; ".join(parts)
    else:
        reason, message = RECONCILED_REASON, f"{len(outcomes)} entries ready"
    unverified = [
        o
        for o in outcomes
        if o.ok
        and o.verification is not None
        and o.verification.result is VerificationResult.UNREACHABLE
    ]
    if len(unverified) > 1:
        message += f"; {len(unverified)} entries not verified"
    message += "".join(
        f"; {line}"
        for line in _first_few(
            [
                f"entry {o.name} not verified ({o.verification.message})"
                for o in unverified
                if o.verification is not None
            ],
            "entries not verified",
        )
    )
    if overridden:
        more = f" and {len(overridden) - SHOWN} more" if len(overridden) > SHOWN else ""
        message += (
            "; registries given by more than one entry (the first wins): "
            f"{', '.join(overridden[:SHOWN])}{more}"
        )
    return reason, _clip(message, MESSAGE_LIMIT)


def entry_rows(outcomes: Sequence[EntryOutcome]) -> list[dict[str, Any]]:
    """`status.entries`: how each entry fared, its token's schedule, its next retry."""
    return [
        {
            k: v
            for k, v in {
                "name": o.name,
                "ready": o.ok,
                "reason": o.reason,
                "message": _clip(o.message, ENTRY_MESSAGE_LIMIT),
                "expiresAt": iso(o.expires_at),
                "renewAt": iso(o.renew_at),
                "tokenDigest": (
                    digest(o.payload) if o.expires_at is not None and o.payload else None
                ),
                "verification": _verification_row(o),
                "acceptedDigest": o.accepted_digest,
                "failures": o.failures or None,
                "retryAt": iso(o.retry_at),
            }.items()
            if v is not None
        }
        for o in outcomes
    ]


def _verification_row(outcome: EntryOutcome) -> dict[str, str] | None:
    verdict = outcome.verification
    if verdict is None:
        return None
    row = {"result": str(verdict.result), "message": _clip(verdict.message, ENTRY_MESSAGE_LIMIT)}
    if verdict.result is not VerificationResult.SKIPPED:
        # Nothing was asked: a time would only rewrite status at every pass.
        row["checkedAt"] = iso(verdict.checked_at) or ""
    return row


def recorded_entries(previous: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """`status.entries` of `previous` status, by name."""
    return {str(e.get("name")): dict(e) for e in previous.get("entries", []) if e.get("name")}
