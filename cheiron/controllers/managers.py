"""The manager controller: one pass of a manager, its reconcile loop, its cleanup on deletion.

The loop walks the manager machine (cheiron.fsm.manager): resolve the entries, write the
Secrets that differ from what the watches saw, mark the ServiceAccounts or Pods of the target
namespaces, and write status only when it changed. cheiron.controllers.lifecycles starts,
wakes and stops the loops and holds the finalizer until the cleanup here has run.
"""

import asyncio
import datetime
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from pydantic import ValidationError
from transitions import MachineError

from cheiron import API_GROUP, API_VERSION, metrics
from cheiron.api.meta import OWNER_UID_LABEL, is_ignored
from cheiron.api.models import EcrSource, Mode, SecretEntry, validation_message
from cheiron.api.observed import (
    PLURALS,
    ManagerInfo,
    ManagerKind,
    ManagerObject,
    SecretInfo,
    manager_info,
    manager_key,
)
from cheiron.controllers import verifier
from cheiron.controllers.accounts import sync_namespace
from cheiron.controllers.loops import Stopped, wake_loop
from cheiron.dockerconfig import DockerConfig
from cheiron.fsm.manager import (
    FAIL,
    INVALID,
    NEW_SPEC,
    RESOLVED,
    RETRYING,
    SETTLE,
    START,
    ManagerMachine,
    Start,
)
from cheiron.k8s.objects import ObjectRef, refusal
from cheiron.pullsecrets import entries
from cheiron.pullsecrets.entries import EntryOutcome
from cheiron.pullsecrets.materialise import (
    DesiredSecret,
    Refusal,
    SecretWrites,
    after_writes,
    hold,
    merged_name,
    secret_annotations,
    secret_labels,
)
from cheiron.pullsecrets.passes import (
    NamespaceMarks,
    PassOutcome,
    namespace_marks,
    pass_outcome,
    secret_pass,
)
from cheiron.pullsecrets.renewal import (
    Cached,
    backoff,
    due,
    held,
    parse_time,
    renew_at,
    with_retry,
)
from cheiron.pullsecrets.status import (
    SECRET_CONFLICT,
    condition,
    ready_message,
    recorded_entries,
)
from cheiron.runtime.state import runtime
from cheiron.runtime.views import Views
from cheiron.sources.ecr import EcrError

log = logging.getLogger(__name__)

ECR_ERROR = "EcrError"
INVALID_SPEC = "InvalidSpec"
RECONCILE_ERROR = "ReconcileError"
# After a pass that wrote marks, the appends it caused change the counts, and the report
# follows once those changes pause (Runtime.wake_soon). Only when none come although some
# were expected (the marked accounts were deleted meanwhile) does it wait this long.
REPORT_DELAY = 30.0
# An Invalid manager's loop sleeps until its spec changes; the informer wakes it then.
IDLE_SECONDS = 24 * 3600.0


# A manager's object as the API returns it (metadata, spec, status); never changed in place.
Body = Mapping[str, Any]


def _meta(body: Body) -> Mapping[str, Any]:
    meta: Mapping[str, Any] = body.get("metadata") or {}
    return meta


def _key(kind: ManagerKind, body: Body) -> str:
    meta = _meta(body)
    return manager_key(kind, meta.get("namespace"), meta.get("name") or "")


def _manager_ref(manager: ManagerInfo) -> ObjectRef:
    api_version = f"{API_GROUP}/{API_VERSION}"
    return ObjectRef(manager.kind, api_version, manager.name, manager.namespace, manager.uid)


def _ref(kind: ManagerKind, body: Body) -> ObjectRef:
    meta = _meta(body)
    api_version = f"{API_GROUP}/{API_VERSION}"
    return ObjectRef(kind, api_version, meta["name"], meta.get("namespace"), meta.get("uid", ""))


# --- status --------------------------------------------------------------------------


async def write_status(plural: str, body: Body, wanted: dict[str, Any]) -> bool:
    """Patch the status fields in `wanted` unless they already hold those values."""
    current = dict(body.get("status") or {})
    if all(current.get(k) == v for k, v in wanted.items()):
        return False
    meta = _meta(body)
    await asyncio.to_thread(
        runtime().kube.patch_manager_status, plural, meta.get("namespace"), meta["name"], wanted
    )
    return True


async def _write_status(kind: ManagerKind, body: Body, wanted: dict[str, Any]) -> bool:
    return await write_status(PLURALS[kind], body, wanted)


# --- the reconcile -------------------------------------------------------------------


WRITE_CONCURRENCY = 8  # parallel Secret writes per manager pass
T = TypeVar("T")


def _summarise(verb: str, done: Sequence[tuple[str, str]], shown: int = 10) -> str:
    """`updated 3 Secrets: a/x, b/x, c/x`, naming at most `shown` of them."""
    names = ", ".join(f"{ns}/{name}" for ns, name in done[:shown])
    more = f" and {len(done) - shown} more" if len(done) > shown else ""
    noun = "Secret" if len(done) == 1 else "Secrets"
    return f"{verb} {len(done)} {noun}: {names}{more}"


async def _apply(manager: ManagerInfo, changes: SecretWrites, ref: ObjectRef) -> SecretWrites:
    """Make the writes; returns them as actually carried out, with the refused ones.

    Only pull Secrets are indexed, so a create can meet a Secret of another type under the
    same name: that is a conflict, like any Secret cheiron does not own. A write the API
    server refuses is recorded for its namespace; the other namespaces' writes go on.
    """
    kube = runtime().kube
    labels = secret_labels(manager.uid)
    annotations = secret_annotations(manager)
    target = manager.spec.target
    if target is not None and target.secret is not None:
        # The user's labels and annotations for the merged Secret; cheiron's own win.
        labels = {**target.secret.labels, **labels}
        annotations = {**target.secret.annotations, **annotations}
    limit = asyncio.Semaphore(WRITE_CONCURRENCY)
    refused: list[Refusal] = []

    async def call(
        action: str, namespace: str, name: str, fn: Callable[..., T], *args: Any
    ) -> T | Refusal:
        async with limit:
            try:
                return await asyncio.to_thread(fn, *args)
            except Exception as e:
                reason = refusal(e)
                if reason is None:
                    raise
                refused.append(Refusal(namespace, name, action, reason))
                return refused[-1]

    async def create(d: DesiredSecret) -> DesiredSecret | SecretInfo | Refusal | None:
        made = await call(
            "create",
            d.namespace,
            d.name,
            kube.create_pull_secret,
            d.namespace,
            d.name,
            d.payload,
            labels,
            annotations,
        )
        if isinstance(made, Refusal):
            return made
        if made:
            return None
        found = await call("create", d.namespace, d.name, kube.secret_labels, d.namespace, d.name)
        if isinstance(found, Refusal):
            return found
        found = found or {}
        if found.get(OWNER_UID_LABEL) == manager.uid:
            return d  # ours, not yet seen by the watch: update it
        return SecretInfo(d.namespace, d.name, "unknown", found.get(OWNER_UID_LABEL))

    results = await asyncio.gather(*(create(d) for d in changes.create))
    created = [d for d, r in zip(changes.create, results, strict=True) if r is None]
    updates = [*changes.update, *(r for r in results if isinstance(r, DesiredSecret))]
    conflicts = [*changes.conflicts, *(r for r in results if isinstance(r, SecretInfo))]
    # Updates and deletes side by side, as before: one gather, split by position.
    answers = await asyncio.gather(
        *(
            call(
                "update",
                d.namespace,
                d.name,
                kube.update_pull_secret,
                d.namespace,
                d.name,
                d.payload,
                labels,
                annotations if d.adopt else None,
            )
            for d in updates
        ),
        *(
            call("delete", s.namespace, s.name, kube.delete_secret, s.namespace, s.name)
            for s in changes.delete
        ),
    )
    ok = [not isinstance(r, Refusal) for r in answers]
    updated = [d for d, fine in zip(updates, ok[: len(updates)], strict=True) if fine]
    deleted = [s for s, fine in zip(changes.delete, ok[len(updates) :], strict=True) if fine]
    for d in (*created, *updated):
        metrics.SECRETS_CREATED.labels(d.namespace, d.name).inc()
    # One Event per kind of change and pass: an ECR renewal across 100 namespaces is one
    # Event, not 100.
    for reason, verb, done in (
        ("SecretCreated", "created", [(d.namespace, d.name) for d in created]),
        ("SecretUpdated", "updated", [(d.namespace, d.name) for d in updated if not d.adopt]),
        ("SecretAdopted", "adopted", [(d.namespace, d.name) for d in updated if d.adopt]),
        ("SecretDeleted", "deleted", [(s.namespace, s.name) for s in deleted]),
    ):
        if done:
            await asyncio.to_thread(kube.event, ref, "Normal", reason, _summarise(verb, done))
    return SecretWrites(
        tuple(created),
        tuple(updated),
        tuple(deleted),
        tuple(conflicts),
        (*changes.refused, *refused),
    )


FAILED_PASS_RETRY = 5.0  # seconds after a pass that raised


@dataclass(frozen=True)
class Pass:
    """How a reconcile pass ended, and when the next one is due at the latest."""

    phase: str
    renew_at: datetime.datetime | None = None
    # The earliest retry of a failed entry.
    retry_at: datetime.datetime | None = None
    # Nothing to do in this state (Invalid) until a new spec wakes the loop.
    idle: bool = False
    # The status report was left to the next pass.
    report_soon: bool = False


def _seed_token(
    manager: ManagerInfo,
    entry: SecretEntry,
    identity: tuple[str, ...],
    status: dict[str, Any],
    idx: Views,
) -> Cached | None:
    """After a restart, reuse the token in cheiron's own Secret until status says renew.

    Only the copy status vouches for (by digest) is reused; without one, fetch anew.
    """
    rt = runtime()
    recorded = recorded_entries(status).get(entry.secret_name, {})
    renew, expires = parse_time(recorded.get("renewAt")), parse_time(recorded.get("expiresAt"))
    expected = recorded.get("tokenDigest")
    if renew is None or expires is None or not expected or rt.clock() >= renew:
        return None
    if merged_name(manager) is not None:
        # The merged Secret mixes every entry; a restart renews this token once instead.
        return None
    payload = entries.own_payload(
        manager, entry, idx.secrets.all(), rt.kube.read_secret, str(expected)
    )
    return Cached(payload, expires, renew, identity) if payload else None


def _resolve_ecr(status: dict[str, Any], idx: Views) -> entries.ResolveEcr:
    rt = runtime()

    def resolve(manager: ManagerInfo, entry: SecretEntry) -> EntryOutcome:
        name, key = entry.secret_name, (manager.uid, entry.secret_name)
        target = entries.ecr_target(manager, entry, rt.kube.read_secret, rt.ecr_policy)
        if isinstance(target, EntryOutcome):
            return target
        if key not in rt.tokens and (
            seed := _seed_token(manager, entry, target.identity, status, idx)
        ):
            rt.tokens[key] = seed
        cached, now = rt.tokens.get(key), rt.clock()
        if cached is not None and cached.identity == target.identity and not due(cached, now):
            return EntryOutcome(
                name,
                True,
                "Resolved",
                payload=cached.payload,
                expires_at=cached.expires_at,
                renew_at=cached.renew_at,
            )
        try:
            token = rt.fetch_ecr(target)
        except EcrError as e:
            log.warning("ECR token for %s/%s: %s", manager.key, name, e)
            return EntryOutcome(
                name,
                False,
                ECR_ERROR,
                f"GetAuthorizationToken failed: {e.code}",
                expires_at=cached.expires_at if cached else None,
                verification=verifier.ecr_failure(e.code, now),
            )
        payload = DockerConfig.single(token.registry, token.username, token.password).to_json()
        fresh = Cached(
            payload, token.expires_at, renew_at(now, token.expires_at, rt.jitter()), target.identity
        )
        rt.tokens[key] = fresh
        metrics.SECRET_RENEWALS.inc()
        return EntryOutcome(
            name,
            True,
            "Resolved",
            payload=payload,
            expires_at=fresh.expires_at,
            renew_at=fresh.renew_at,
        )

    return resolve


async def reconcile_namespace(key: str, namespace: str, idx: Views) -> None:
    """One manager in one namespace: its Secrets there, then the namespace's marks.

    What a new or changed namespace costs: the entries as the manager's last full pass
    resolved them, this namespace's Secrets and accounts, nothing else. Without resolved
    entries of the manager's current generation, its full pass runs instead.
    """
    rt = runtime()
    manager = next((m for m in idx.managers() if m.key == key), None)
    resolved = rt.resolved.get(key)
    if manager is None or manager.deleting:
        return
    if resolved is None or resolved[0] != manager.generation:
        rt.wake(key)
        return
    info = idx.namespace_map().get(namespace)
    if info is None:
        rt.wake_soon(key)  # gone: only the manager's counts change
        return
    outcomes: tuple[EntryOutcome, ...] = resolved[1]
    one = secret_pass(
        manager, outcomes, {namespace: info}, idx.secrets_in(namespace).values(), idx.pods_in
    )
    changes = await _apply(manager, one.writes, _manager_ref(manager))
    # Only the marks: status (and its counts) follows with the full pass woken below.
    after = {s.name: s for s in after_writes(one.existing, changes, manager.uid)}
    marks = namespace_marks(namespace, idx, after)
    writes = changes.writes + await sync_namespace(namespace, idx, marks)
    log.debug("reconciled %s in %s: %d writes", key, namespace, writes)
    rt.wake_soon(key)


async def _invalid(
    kind: ManagerKind, body: Body, error: ValidationError, previous: dict[str, Any]
) -> Pass:
    """Report a spec the schema should have refused: which field, never the values."""
    generation = int(_meta(body).get("generation") or 0)
    message = validation_message(error)
    wanted = {
        "phase": INVALID,
        "observedGeneration": generation,
        "conditions": [
            condition(previous, False, INVALID_SPEC, message, generation, runtime().clock())
        ],
    }
    if await _write_status(kind, body, wanted):
        await asyncio.to_thread(
            runtime().kube.event, _ref(kind, body), "Warning", INVALID_SPEC, message
        )
    metrics.manager_ready(_key(kind, body), False, INVALID_SPEC)
    return Pass(INVALID)


def _to_sync(manager: ManagerInfo, targets: Iterable[str], changes: SecretWrites) -> set[str]:
    """Namespaces whose accounts this pass marks again.

    Every target after a spec change, at a manager's first pass in this process and at
    each resync; otherwise only where Secrets changed: a namespace or account that changed
    is queued on its own, so a wake-up among 1,000 settled namespaces costs no walk of them.
    """
    rt = runtime()
    written = {d.namespace for d in (*changes.create, *changes.update)}
    written |= {s.namespace for s in changes.delete}
    now = rt.clock()
    last = rt.full_syncs.get(manager.key)
    if (
        last is None
        or last[0] != manager.generation
        or (now - last[1]).total_seconds() >= rt.resync_seconds
    ):
        rt.full_syncs[manager.key] = (manager.generation, now)
        return set(targets) | written
    return written


async def reconcile(
    kind: ManagerKind, body: Body, idx: Views, manager: ManagerInfo | None = None
) -> Pass:
    """One pass of the manager machine, from the phase status shows.

    `manager` is the spec as the informer validated it; without it, it is validated here.
    """
    rt = runtime()
    key = _key(kind, body)
    previous = dict(body.get("status") or {})
    machine = ManagerMachine(previous.get("phase"))
    error: ValidationError | None = None
    if manager is None:
        try:
            manager = manager_info(kind, body, eatr=rt.eatr)
        except ValidationError as e:
            error = e
    new_spec = previous.get("observedGeneration") != _meta(body).get("generation")
    start = Start(valid=error is None, inputs_changed=key in rt.inputs_changed)
    rt.inputs_changed.discard(key)
    try:
        machine.fire(NEW_SPEC if new_spec else START, start)
    except MachineError:
        # Invalid, and the spec did not change: nothing to do until it does.
        return Pass(machine.state, idle=True)
    if error is not None:
        return await _invalid(kind, body, error, previous)
    assert manager is not None  # noqa: S101 - valid, as the machine's guard says
    try:
        return await _pass(manager, machine, body, idx)
    except Exception as e:
        machine.fire(FAIL)
        await _report_failure(kind, body, e, machine.state)
        raise


async def _resolve(
    manager: ManagerInfo, machine: ManagerMachine, previous: dict[str, Any], idx: Views
) -> tuple[EntryOutcome, ...]:
    """Resolve the entries the state says to; failed ones in Retrying wait for their backoff."""
    rt = runtime()
    now = rt.clock()
    recorded = recorded_entries(previous)
    waiting = held(recorded, now) if machine.state == RETRYING else {}
    carry = previous.get("observedGeneration") == manager.generation
    ecr = _resolve_ecr(previous, idx)
    read = rt.kube.read_secret

    async def one(entry: SecretEntry) -> EntryOutcome:
        name = entry.secret_name
        if name in waiting:
            return waiting[name]
        if entry.ecr is not None and entry.existing_secret_ref is None:
            endpoint = _endpoint(entry.ecr)
            fresh = await rt.pools.aws_call(endpoint, entries.resolve, manager, entry, read, ecr)
        else:
            fresh = await asyncio.to_thread(entries.resolve, manager, entry, read, ecr)
        # Registries are asked beside the pass, which waits verifier.GRACE at most for an
        # answer: one that never answers costs the pass seconds, never its check's deadline.
        fresh = await verifier.verify(manager, entry, fresh, recorded.get(name), idx)
        await verifier.report(manager, fresh, recorded.get(name), _manager_ref(manager))
        return with_retry(fresh, recorded.get(name), now, carry=carry)

    return tuple(await asyncio.gather(*(one(e) for e in manager.spec.secrets)))


def _endpoint(source: EcrSource) -> str:
    # What an entry's AWS calls share a cap with: its own endpoint, else its region's.
    return source.endpoint_url or f"ecr:{source.region or source.registry or ''}"


def _remember_refusals(
    key: str, refused: Iterable[Refusal], waiting: Mapping[str, Refusal], now: datetime.datetime
) -> dict[str, tuple[int, datetime.datetime, Refusal]]:
    """Each refusing namespace's count and next try; namespaces no longer refusing drop out."""
    rt = runtime()
    before = rt.refusals.get(key, {})
    after: dict[str, tuple[int, datetime.datetime, Refusal]] = {}
    for r in refused:
        if r.namespace in after:
            continue
        if r.namespace in waiting:
            after[r.namespace] = before[r.namespace]
            continue
        count = before[r.namespace][0] + 1 if r.namespace in before else 1
        if count == 1 or before[r.namespace][2] != r:
            log.warning("%s: %s", key, r.describe())
        after[r.namespace] = (count, now + datetime.timedelta(seconds=backoff(count)), r)
    if after:
        rt.refusals[key] = after
    else:
        rt.refusals.pop(key, None)
    return after


async def _pass(manager: ManagerInfo, machine: ManagerMachine, body: Body, idx: Views) -> Pass:
    """Resolve, write the Secrets, mark the objects, report: the pure pass decides each."""
    rt = runtime()
    previous = dict(body.get("status") or {})
    ref = _manager_ref(manager)
    outcomes = await _resolve(manager, machine, previous, idx)
    machine.fire(RESOLVED)
    rt.resolved[manager.key] = (manager.generation, outcomes)

    one = secret_pass(manager, outcomes, idx.namespace_map(), idx.secrets_for(manager), idx.pods_in)
    now = rt.clock()
    last_refused = rt.refusals.get(manager.key, {})
    waiting = {ns: r for ns, (_n, at, r) in last_refused.items() if at > now}
    applied = await _apply(manager, hold(one.writes, waiting), ref)

    def outcome(applied: SecretWrites, mark_in: Iterable[str]) -> PassOutcome:
        return pass_outcome(
            manager,
            outcomes,
            one,
            applied,
            idx,
            mark_in=mark_in,
            previous=previous,
            now=now,
            webhook_served=rt.webhook_served,
        )

    result = outcome(applied, _to_sync(manager, one.targets.namespaces, applied))
    limit = asyncio.Semaphore(WRITE_CONCURRENCY)
    mark_refusals: list[Refusal] = []

    async def sync(marks: NamespaceMarks) -> int:
        if marks.namespace in waiting:
            return 0  # its last refusal's backoff has not run out
        async with limit:
            try:
                return await sync_namespace(marks.namespace, idx, marks)
            except Exception as e:
                reason = refusal(e)
                if reason is None:
                    raise
                mark_refusals.append(Refusal(marks.namespace, "", "mark", reason))
                return 0

    marked = sum(await asyncio.gather(*(sync(m) for m in result.marks)))
    writes = applied.writes + marked
    if mark_refusals:
        applied = replace(applied, refused=(*applied.refused, *mark_refusals))
        result = outcome(applied, ())
    refused = _remember_refusals(manager.key, applied.refused, waiting, now)
    # Namespaces still waiting out an earlier refusal count too, not only this pass's.
    machine.fire(SETTLE, replace(result.progress, refused_namespaces=len(refused)))
    renewals = [o.renew_at for o in outcomes if o.renew_at is not None]
    retries = [o.retry_at for o in outcomes if not o.ok and o.retry_at is not None]
    retries += [at for _n, at, _r in refused.values()]
    ended = Pass(
        machine.state,
        renew_at=min(renewals) if renewals else None,
        retry_at=min(retries) if retries else None,
    )
    if marked and result.ready and manager.key not in rt.status_deferred:
        # The ServiceAccount (or Pod) controller appends next and counts change: the next
        # pass, once those changes pause, reports it all in one status write instead of
        # one per burst. Never twice in a row, so that status cannot lag behind forever;
        # never for a Degraded pass, whose failures (and their backoff) are reported at once.
        rt.status_deferred.add(manager.key)
        if not _flips_expected(result.marks, manager.mode):
            # Marks on objects already reconciled change no count: nothing else would wake
            # the report.
            rt.wake_soon(manager.key)
        log.info("reconciled %s: %s, %d writes, status follows", manager.key, ended.phase, writes)
        return replace(ended, report_soon=True)
    rt.status_deferred.discard(manager.key)
    status_written = await _write_status(manager.kind, body, result.status)
    if status_written and not result.ready and ready_message(previous) != result.message:
        await asyncio.to_thread(rt.kube.event, ref, "Warning", result.reason, result.message)
    after = after_writes(one.existing, applied, manager.uid)
    reconciled = int(result.status["reconciledObjects"])
    _observe(manager, outcomes, after, reconciled, result.ready, applied.conflicts)
    metrics.manager_ready(manager.key, result.ready, result.reason)
    # One line per pass: how an operator sees that a converged cluster costs nothing.
    log.info("reconciled %s: %s, %d writes", manager.key, machine.state, writes + status_written)
    return ended


def _flips_expected(marks: Iterable[NamespaceMarks], mode: Mode) -> bool:
    """Whether an object the pass marked is yet to become reconciled (which wakes the report)."""
    reconciled = runtime().reconciled
    pod = mode is Mode.POD
    for m in marks:
        if m.ignored:
            continue
        for obj, names in m.pods if pod else m.accounts:
            key = (m.namespace, obj.name, pod)
            if names and not is_ignored(obj.annotations) and key not in reconciled:
                return True
    return False


def _observe(  # noqa: PLR0917 - one call site, the pass's own results
    manager: ManagerInfo,
    outcomes: Sequence[EntryOutcome],
    after: Sequence[SecretInfo],
    reconciled: int,
    ready: bool,
    conflicts: Sequence[SecretInfo],
) -> None:
    """Metrics of one pass: errors by reason, managed objects, ECR expiries, last sync."""
    key = manager.key
    for o in outcomes:
        if not o.ok:
            metrics.ERRORS.labels("manager", o.reason).inc()
        if o.expires_at is not None:
            metrics.token_expires(key, o.name, o.expires_at)
    if conflicts:
        metrics.ERRORS.labels("manager", SECRET_CONFLICT).inc(len(conflicts))
    owned = sum(1 for s in after if s.owner_uid == manager.uid)
    metrics.MANAGED_OBJECTS.labels(key, "Secret").set(owned)
    kind = "ServiceAccount" if manager.mode is Mode.SERVICE_ACCOUNT else "Pod"
    metrics.MANAGED_OBJECTS.labels(key, kind).set(reconciled)
    if ready:
        metrics.LAST_SYNC.labels(key).set_to_current_time()


async def _report_failure(kind: ManagerKind, body: Body, error: Exception, phase: str) -> None:
    """Show a failed pass in status (best effort); the type and API reason, never a body."""
    status = dict(body.get("status") or {})
    generation = int(_meta(body).get("generation") or 0)
    detail = getattr(error, "reason", None) or type(error).__name__
    message = f"reconcile failed ({type(error).__name__}: {detail}); retrying"
    wanted = {
        "phase": phase,
        "conditions": [
            condition(status, False, RECONCILE_ERROR, message, generation, runtime().clock())
        ],
    }
    metrics.manager_ready(_key(kind, body), False, RECONCILE_ERROR)
    try:
        if await _write_status(kind, body, wanted):
            await asyncio.to_thread(
                runtime().kube.event, _ref(kind, body), "Warning", RECONCILE_ERROR, message
            )
    except Exception:  # noqa: BLE001 - the API may be what failed; the log has it already
        log.debug("could not report the failure of %s", _key(kind, body))


def _next_delay(result: Pass) -> float:
    """Seconds until the next pass: the resync, an ECR renewal, a failed entry's retry.

    An Invalid manager waits for its spec to change (a wake-up), however long.
    """
    rt = runtime()
    if result.idle:
        return IDLE_SECONDS
    delay = REPORT_DELAY if result.report_soon else rt.resync_seconds
    for due_at in (result.renew_at, result.retry_at):
        if due_at is not None:
            delay = min(delay, max(1.0, (due_at - rt.clock()).total_seconds()))
    return delay


async def run_loop(
    obj: ManagerObject, current: Callable[[], ManagerObject | None], stopped: Stopped, idx: Views
) -> None:
    """A manager's reconcile loop: each pass reads the manager as the informer has it now."""
    key = obj.key
    # Nothing decides from a half-filled cache.
    await idx.caches.wait_synced()

    async def once() -> float:
        now = current()
        if now is None or now.deleting:
            return IDLE_SECONDS  # its lifecycle stops this loop
        # A selector that reads a new label key waits for the snapshots that keep it.
        await idx.caches.wait_current()
        try:
            with metrics.timed("manager"):
                result = await reconcile(now.kind, now.body, idx, now.info)
            return _next_delay(result)
        except Exception as e:
            metrics.ERRORS.labels("manager", type(e).__name__).inc()
            log.exception("reconcile of %s failed; retrying", key)
            return FAILED_PASS_RETRY

    await wake_loop(key, stopped, once)


async def cleanup(obj: ManagerObject, idx: Views) -> None:
    """Delete a manager's Secrets and take its names off every object; safe to repeat.

    What the process remembers of it goes once the object is gone (`forget`).
    """
    kube = runtime().kube
    await idx.caches.wait_synced()
    # An ImagePullSecretManager writes in its own namespace only.
    scope = obj.namespace if obj.kind is ManagerKind.NAMESPACED else None
    owned = await asyncio.to_thread(kube.list_owned_secrets, f"{OWNER_UID_LABEL}={obj.uid}", scope)
    for namespace, name in owned:
        await asyncio.to_thread(kube.delete_secret, namespace, name)
    # The cache shows this manager deleting, so it provides nothing any more: every
    # namespace drops its names, and the ServiceAccount controller removes what it added.
    gone = {(ns, name) for ns, name in owned}
    remaining = [s for s in idx.secrets.all() if (s.namespace, s.name) not in gone]
    for namespace in sorted({str(ns) for ns in (*idx.accounts, *idx.pods)}):
        in_ns = {s.name: s for s in remaining if s.namespace == namespace}
        await sync_namespace(namespace, idx, namespace_marks(namespace, idx, in_ns))


def forget(obj: ManagerObject) -> None:
    """Drop what the process keeps of a manager that is gone: its memory and metrics."""
    entries_ = [e.get("name", "") for e in (obj.body.get("status") or {}).get("entries", [])]
    metrics.forget_manager(obj.key, entries_)
    runtime().forget(obj.key, obj.uid)
