"""Asks registries about entries' credentials, through the process's cache of verdicts.

The rules (which hosts, how often, what a verdict does to an entry) are
cheiron.pullsecrets.verification's; this module does the asking, the remembering, the
Events and the metric.
"""

import asyncio
import datetime
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from cheiron import metrics
from cheiron.api.models import SecretEntry, Verification
from cheiron.api.observed import ManagerInfo, digest
from cheiron.api.sources import RegistryLogin, Verdict, VerificationResult
from cheiron.k8s.objects import ObjectRef
from cheiron.pullsecrets import entries
from cheiron.pullsecrets.entries import EntryOutcome
from cheiron.pullsecrets.verification import (
    CREDENTIALS_REJECTED,
    CREDENTIALS_VERIFIED,
    REGISTRY_UNREACHABLE,
    changed,
    combined,
    logins,
    outcome_with,
    recorded_verdict,
)
from cheiron.runtime.state import runtime
from cheiron.runtime.views import Views

log = logging.getLogger(__name__)

# Registry questions in flight at once, across managers: a check is a skopeo process.
CONCURRENCY = 4
# Verdicts kept; past it, the ones older than the interval go (they would be asked again).
MAX_VERDICTS = 10_000
# AWS's words for credentials it does not take (the ECR token call is the verification).
ECR_REJECTIONS = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AuthFailure",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
    }
)

_limit: asyncio.Semaphore | None = None


def _semaphore() -> asyncio.Semaphore:
    global _limit  # noqa: PLW0603 - one per process, made on the running loop
    if _limit is None:
        _limit = asyncio.Semaphore(CONCURRENCY)
    return _limit


def _remember(key: tuple[str, str], verdict: Verdict, now: datetime.datetime) -> None:
    rt = runtime()
    rt.verdicts[key] = verdict
    if len(rt.verdicts) > MAX_VERDICTS:
        for old in [k for k, v in rt.verdicts.items() if rt.verify_policy.due(v, now)]:
            del rt.verdicts[old]


def _held(login: RegistryLogin, now: datetime.datetime) -> Verdict | None:
    """The cached verdict on the login, while it holds."""
    rt = runtime()
    cached = rt.verdicts.get(login.key)
    return None if rt.verify_policy.due(cached, now) else cached


async def _ask(login: RegistryLogin, now: datetime.datetime) -> Verdict:
    """The cached verdict while it holds, else the registry's answer now."""
    rt = runtime()
    if (cached := _held(login, now)) is not None:
        return cached
    if rt.check_login is None:
        return Verdict(VerificationResult.SKIPPED, now, "this operator verifies nothing")
    async with _semaphore():
        # Another pass may have asked while this one waited.
        if (cached := _held(login, now)) is not None:
            return cached
        verdict = await rt.check_login(login)
    _remember(login.key, verdict, now)
    log.info("verified credentials for %s: %s", login.host, verdict.result)
    return verdict


async def _payload_verdict(
    manager: ManagerInfo, found: Sequence[RegistryLogin], now: datetime.datetime
) -> Verdict:
    """What the registries of a dockerconfigjson's logins say to them, as one verdict."""
    policy = runtime().verify_policy

    async def one(login: RegistryLogin) -> Verdict:
        refused = policy.refusal(manager, login.host)
        if refused is not None:
            return Verdict(VerificationResult.SKIPPED, now, refused)
        return await _ask(login, now)

    return combined(await asyncio.gather(*(one(x) for x in found)), now)


async def _accepted_payload(
    manager: ManagerInfo, entry: SecretEntry, expected: str, idx: Views
) -> bytes | None:
    """The accepted payload the entry's Secrets hold: remembered, or read back from them."""
    rt = runtime()
    held = rt.accepted.get((manager.uid, entry.secret_name))
    if held is not None and digest(held) == expected:
        return held
    return await asyncio.to_thread(
        entries.own_payload, manager, entry, idx.secrets.all(), rt.kube.read_secret, expected
    )


async def verify(
    manager: ManagerInfo,
    entry: SecretEntry,
    outcome: EntryOutcome,
    recorded: Mapping[str, Any] | None,
    idx: Views,
) -> EntryOutcome:
    """The entry's outcome once its registry has been asked (ECR: by the token call)."""
    rt = runtime()
    now = rt.clock()
    if entry.ecr is not None and entry.existing_secret_ref is None:
        return _ecr_verdict(outcome, recorded, now)
    if manager.spec.verification is Verification.NEVER or not outcome.ok or not outcome.payload:
        return outcome
    new = digest(outcome.payload)
    accepted = (recorded or {}).get("acceptedDigest")
    accepted = str(accepted) if accepted else None
    found = logins(outcome.payload, rt.verify_policy)
    before = recorded_verdict(recorded)
    if accepted == new and before is not None and before.result is VerificationResult.VERIFIED:
        # Accepted and written before a restart: the cache starts from what status recorded,
        # since asking again would only rewrite status.
        for login in found:
            rt.verdicts.setdefault(login.key, before)
    verdict = await _payload_verdict(manager, found, now)
    kept: Verdict | None = None
    if (
        verdict.result is VerificationResult.REJECTED
        and accepted is not None
        and accepted != new
        and not outcome.in_place
    ):
        old = await _accepted_payload(manager, entry, accepted, idx)
        # A merged Secret mixes every entry, so none is found by name: status vouches for it.
        kept = (
            await _payload_verdict(manager, logins(old, rt.verify_policy), now)
            if old is not None
            else Verdict(VerificationResult.VERIFIED, now, "accepted when last asked")
        )
    result = outcome_with(outcome, verdict, manager.spec.verification, kept, (new, accepted))
    if result.accepted_digest == new:
        rt.accepted[(manager.uid, entry.secret_name)] = outcome.payload
    return result


def _ecr_verdict(
    outcome: EntryOutcome, recorded: Mapping[str, Any] | None, now: datetime.datetime
) -> EntryOutcome:
    """A token in hand is AWS's yes; a cached one keeps the yes status recorded for it."""
    if outcome.verification is not None or not outcome.ok:
        return outcome
    before = recorded_verdict(recorded)
    if before is None or before.result is not VerificationResult.VERIFIED:
        before = Verdict(VerificationResult.VERIFIED, now, "AWS issued a token")
    return replace(outcome, verification=before)


def ecr_failure(code: str, now: datetime.datetime) -> Verdict:
    """What a failed ECR token call says of the entry's AWS credentials."""
    result = (
        VerificationResult.REJECTED if code in ECR_REJECTIONS else VerificationResult.UNREACHABLE
    )
    return Verdict(result, now, f"GetAuthorizationToken: {code}")


async def report(
    manager: ManagerInfo,
    outcome: EntryOutcome,
    recorded: Mapping[str, Any] | None,
    ref: ObjectRef,
) -> None:
    """The metric of the entry's verdict, and an Event when it differs from status's."""
    verdict = outcome.verification
    if verdict is None:
        return
    metrics.credentials_verified(manager.key, outcome.name, verdict.result)
    told = runtime().told
    key = (manager.uid, outcome.name)
    if not changed(recorded_verdict(recorded), verdict) or told.get(key) == verdict.result:
        return
    told[key] = verdict.result
    kind, reason = {
        VerificationResult.REJECTED: ("Warning", CREDENTIALS_REJECTED),
        VerificationResult.UNREACHABLE: ("Warning", REGISTRY_UNREACHABLE),
    }.get(verdict.result, ("Normal", CREDENTIALS_VERIFIED))
    message = f"entry {outcome.name}: {verdict.message}"
    await asyncio.to_thread(runtime().kube.event, ref, kind, reason, message)
