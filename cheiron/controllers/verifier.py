"""Asks registries about entries' credentials beside the passes, through a cache of verdicts.

The rules (which hosts, how often, which checks may run now, what a verdict, or none yet,
does to an entry) are cheiron.pullsecrets.verification's; this module does the asking (tasks
of their own: a pass waits for an answer GRACE seconds at most, and the answer's arrival wakes
the managers that went on without it), the remembering, the Events and the metric.
"""

import asyncio
import datetime
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from cheiron import metrics
from cheiron.api.models import SecretEntry, Verification
from cheiron.api.observed import ManagerInfo, ManagerKind, digest
from cheiron.api.sources import RegistryLogin, Verdict, VerificationResult
from cheiron.k8s.objects import ObjectRef
from cheiron.pullsecrets import entries
from cheiron.pullsecrets.entries import EntryOutcome
from cheiron.pullsecrets.verification import (
    CREDENTIALS_REJECTED,
    CREDENTIALS_VERIFIED,
    REGISTRY_UNREACHABLE,
    VERIFICATION_PENDING,
    Check,
    Pending,
    changed,
    logins,
    outcome_with,
    pending,
    recorded_verdict,
    settled,
    users,
)
from cheiron.runtime.state import runtime
from cheiron.runtime.views import Views

log = logging.getLogger(__name__)

# How long a pass waits for the checks it asked for before it goes on without their answers:
# a registry that answers at once costs no second pass, one that never answers costs this.
GRACE = 2.0
# How often checks waiting for the cluster managers' first passes are looked at again.
GATE_RETRY = 1.0
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


@dataclass
class _Answer:
    """What the passes waiting on one check expect: its verdict, and whom it wakes."""

    future: "asyncio.Future[Verdict]"
    # Managers that went on without the answer: woken when it arrives.
    wake: set[str] = field(default_factory=set)
    # Of those, the ones whose entry failed for want of it (Enforce): retried at once.
    retry: set[str] = field(default_factory=set)


# The check tasks (the loop keeps only weak references), the gate's pending re-look, and
# whether a look at the board is scheduled (the entries of a pass ask side by side: one look).
_tasks: set["asyncio.Task[None]"] = set()
_gate: list[asyncio.TimerHandle] = []
_scheduled: list[asyncio.Handle] = []


def _remember(key: tuple[str, str], verdict: Verdict, now: datetime.datetime) -> None:
    rt = runtime()
    rt.verdicts[key] = verdict
    if len(rt.verdicts) > MAX_VERDICTS:
        for old in [k for k, v in rt.verdicts.items() if rt.verify_policy.due(v, now)]:
            del rt.verdicts[old]


def _not_asked(key: tuple[str, str], verdict: Verdict, now: datetime.datetime) -> None:
    """Remember a host's silence for the logins it was not asked about, as if they had been.

    So they are not asked (nor shown pending) at every pass once its backoff ends, but
    like any unreachable answer, after UNREACHABLE_RECHECK; what is Skipped is decided anew.
    """
    if verdict.result is VerificationResult.UNREACHABLE:
        _remember(key, verdict, now)


def _cluster_known(idx: Views) -> bool:
    """Whether every cluster manager has had a pass of its current spec in this process."""
    rt = runtime()
    for m in idx.managers():
        if m.kind is ManagerKind.CLUSTER and not m.deleting:
            done = rt.resolved.get(m.key)
            if done is None or done[0] != m.generation:
                return False
    return True


def _answered(check: Check, verdict: Verdict) -> None:
    """Hand the verdict to the passes waiting on it, and wake the managers that went on."""
    rt = runtime()
    answer: _Answer | None = rt.answers.pop(check.login.key, None)
    if answer is None:
        return
    if not answer.future.done():
        answer.future.set_result(verdict)
    rt.inputs_changed.update(answer.retry)
    if answer.wake:
        rt.wake_soon(*answer.wake)


def _soon(idx: Views) -> None:
    """Look at the board once the calls of this turn of the loop are made."""
    if not _scheduled:

        def look() -> None:
            _scheduled.clear()
            _dispatch(idx)

        _scheduled.append(asyncio.get_running_loop().call_soon(look))


def _dispatch(idx: Views) -> None:
    """Start the checks the board lets run now; answer those it says not to ask."""
    rt = runtime()
    now = rt.clock()
    # Only while the board would hold tenants' checks for it is it worth a walk of managers.
    known = not rt.checks.gated(False, now) or _cluster_known(idx)
    started, answered = rt.checks.next_checks(now, known)
    for check, verdict in answered:
        _not_asked(check.login.key, verdict, now)
        _answered(check, verdict)
    for check in started:
        task = asyncio.create_task(_check(check, idx))
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)
    if rt.checks.waiting_for_cluster(known, now) and not _gate:
        loop = asyncio.get_running_loop()

        def again() -> None:
            _gate.clear()
            _dispatch(idx)

        _gate.append(loop.call_later(GATE_RETRY, again))
    if len(rt.answers) > len(rt.checks.queued) + len(rt.checks.running):
        # Checks dropped from the queue (their managers deleted): nobody waits on them.
        for key in [
            k for k in rt.answers if k not in rt.checks.queued and k not in rt.checks.running
        ]:
            del rt.answers[key]


async def _check(check: Check, idx: Views) -> None:
    """One check, beside every pass: the registry's answer, remembered and handed on."""
    rt = runtime()
    login = check.login
    assert rt.check_login is not None  # noqa: S101 - requested only when the operator verifies
    try:
        verdict = await rt.check_login(login)
    except asyncio.CancelledError:
        rt.checks.running.pop(login.key, None)
        raise
    except Exception as e:  # noqa: BLE001 - a waiting pass must get an answer, whatever broke
        log.warning("checking credentials for %s failed: %s", login.host, type(e).__name__)
        verdict = Verdict(
            VerificationResult.UNREACHABLE,
            rt.clock(),
            f"{login.host}: the check failed ({type(e).__name__})",
        )
    now = rt.clock()
    rt.checks.finished(check, verdict, now)
    _remember(login.key, verdict, now)
    log.info("verified credentials for %s: %s", login.host, verdict.result)
    _answered(check, verdict)
    _soon(idx)


def _request(login: RegistryLogin, manager: ManagerInfo, now: datetime.datetime) -> _Answer | None:
    """The answer to wait for on `login`, its check queued if new (None: queue full)."""
    rt = runtime()
    namespaced = manager.kind is ManagerKind.NAMESPACED
    if rt.checks.request(login, manager.key, namespaced, now) is None:
        return None
    answer: _Answer | None = rt.answers.get(login.key)
    if answer is None:
        answer = rt.answers[login.key] = _Answer(asyncio.get_running_loop().create_future())
    return answer


def _known(manager: ManagerInfo, login: RegistryLogin, now: datetime.datetime) -> Verdict | None:
    """The verdict on a login that needs no check now, or None (ask the registry).

    Not for a host the manager may not have contacted, nor while an answer holds; nor while
    the board says not to ask, when the last answer to these credentials still says most.
    """
    rt = runtime()
    policy = rt.verify_policy
    refused = policy.refusal(manager, login.host)
    if refused is not None:
        return Verdict(VerificationResult.SKIPPED, now, refused)
    if rt.check_login is None:
        return Verdict(VerificationResult.SKIPPED, now, "this operator verifies nothing")
    cached = rt.verdicts.get(login.key)
    if cached is not None and not policy.due(cached, now):
        return cached
    verdict = rt.checks.not_asked(login, manager.kind is ManagerKind.NAMESPACED, now)
    if verdict is None:
        return None
    if cached is None:
        _not_asked(login.key, verdict, now)
    return cached or verdict


async def _answers(
    manager: ManagerInfo, found: Sequence[RegistryLogin], now: datetime.datetime, idx: Views
) -> list[Verdict | Pending]:
    """What is known of each login now: a verdict, or pending while its check runs.

    A verdict due again is still used while its check runs; a login never asked waits GRACE
    at most for its answer.
    """
    rt = runtime()
    out: list[Verdict | Pending] = []
    waits: dict[int, _Answer] = {}
    for i, login in enumerate(found):
        if (known := _known(manager, login, now)) is not None:
            out.append(known)
            continue
        cached = rt.verdicts.get(login.key)
        answer = _request(login, manager, now)
        if answer is None:
            out.append(cached or pending(login.host, now))
        elif cached is not None:
            answer.wake.add(manager.key)
            out.append(cached)
        else:
            waits[i] = answer
            out.append(pending(login.host, now))
    _soon(idx)
    if waits:
        await asyncio.wait({a.future for a in waits.values()}, timeout=GRACE)
    for i, answer in waits.items():
        if answer.future.done():
            out[i] = answer.future.result()
        else:
            answer.wake.add(manager.key)
    return out


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
    """The entry's outcome with what its registry said, or says soon (ECR: the token call)."""
    rt = runtime()
    now = rt.clock()
    if manager.kind is ManagerKind.CLUSTER and outcome.ok and outcome.payload:
        # Whatever its mode: tenants are never verified with the usernames it uses.
        rt.checks.cluster_uses(manager.uid, entry.secret_name, users(outcome.payload))
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
    verdict = settled(await _answers(manager, found, now, idx), now)
    kept: Verdict | None = None
    held: bytes | None = None
    if (
        (isinstance(verdict, Pending) or verdict.result is VerificationResult.REJECTED)
        and accepted is not None
        and accepted != new
        and not outcome.in_place
    ):
        held = await _accepted_payload(manager, entry, accepted, idx)
        # A merged Secret mixes every entry, so none is found by name: status vouches for it,
        # as it does while the registry has not answered about the previous credentials yet.
        vouched = Verdict(VerificationResult.VERIFIED, now, "accepted when last asked")
        kept = vouched
        if held is not None:
            old = settled(await _answers(manager, logins(held, rt.verify_policy), now, idx), now)
            kept = vouched if isinstance(old, Pending) else old
    result = outcome_with(outcome, verdict, manager.spec.verification, kept, (new, accepted), held)
    if result.accepted_digest == new:
        rt.accepted[(manager.uid, entry.secret_name)] = outcome.payload
    if result.reason == VERIFICATION_PENDING:
        for login in found:
            if (answer := rt.answers.get(login.key)) is not None:
                answer.retry.add(manager.key)
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
