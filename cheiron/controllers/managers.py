"""Manager handlers: one reconcile loop (kopf daemon) per manager, woken by watch events.

The loop walks the manager machine (cheiron.fsm.manager): resolve the entries, write the
Secrets that differ from what the watches saw, mark the ServiceAccounts or Pods of the target
namespaces, and write status only when it changed. A finalizer cleans up on deletion.
"""

import asyncio
import datetime
import logging
from collections.abc import Sequence
from typing import Any

import kopf
from pydantic import ValidationError

from cheiron import API_GROUP, API_VERSION
from cheiron.api.meta import NEEDS_RECREATION, OWNER_UID_LABEL, RECONCILED, TRUE
from cheiron.api.models import ConditionStatus, Mode
from cheiron.api.observed import ManagerInfo, ManagerKind, SecretInfo, manager_info
from cheiron.controllers.accounts import sync_namespace
from cheiron.controllers.indexes import PLURALS, Indexes, in_namespace
from cheiron.controllers.runtime import runtime
from cheiron.fsm import entries
from cheiron.fsm.manager import (
    EntryOutcome,
    ManagerMachine,
    Progress,
    SecretPlan,
    apply_plan,
    merged_name,
    merged_outcome,
    plan_secrets,
    secret_annotations,
    secret_labels,
    targets,
)
from cheiron.k8s.objects import ObjectRef

log = logging.getLogger(__name__)

SECRET_CONFLICT = "SecretConflict"  # noqa: S105 - a reason, not a password
INVALID_SPEC = "InvalidSpec"
RECONCILE_ERROR = "ReconcileError"


def _key(kind: ManagerKind, body: kopf.Body) -> str:
    meta = body.metadata
    return f"{kind}/{meta.namespace}/{meta.name}" if meta.namespace else f"{kind}/{meta.name}"


def _ref(kind: ManagerKind, body: kopf.Body) -> ObjectRef:
    meta = body.metadata
    return ObjectRef(kind, f"{API_GROUP}/{API_VERSION}", meta.name, meta.namespace, meta.uid)


# --- status --------------------------------------------------------------------------


def _condition(
    status: dict[str, Any], ready: bool, reason: str, message: str, generation: int
) -> dict[str, Any]:
    value = ConditionStatus.TRUE if ready else ConditionStatus.FALSE
    previous = next((c for c in status.get("conditions", []) if c.get("type") == "Ready"), None)
    since = (
        previous["lastTransitionTime"]
        if previous and previous.get("status") == value
        else datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    return {
        "type": "Ready",
        "status": str(value),
        "reason": reason,
        "message": message,
        "lastTransitionTime": since,
        "observedGeneration": generation,
    }


def _summary(outcomes: Sequence[EntryOutcome], conflicts: Sequence[SecretInfo]) -> tuple[str, str]:
    failed = [o for o in outcomes if not o.ok]
    parts = [f"entry {o.name}: {o.message}" for o in failed]
    parts += [
        f"Secret {c.namespace}/{c.name} exists and is not managed by this manager; not overwritten"
        for c in conflicts
    ]
    if failed:
        return failed[0].reason, "; ".join(parts)
    if conflicts:
        return SECRET_CONFLICT, "; ".join(parts)
    return "Reconciled", f"{len(outcomes)} entries ready"


async def _write_status(kind: ManagerKind, body: kopf.Body, wanted: dict[str, Any]) -> bool:
    current = dict(body.get("status") or {})
    if all(current.get(k) == v for k, v in wanted.items()):
        return False
    meta = body.metadata
    await asyncio.to_thread(
        runtime().kube.patch_manager_status, PLURALS[kind], meta.namespace, meta.name, wanted
    )
    return True


# --- the reconcile -------------------------------------------------------------------


async def _apply(manager: ManagerInfo, plan: SecretPlan, ref: ObjectRef) -> SecretPlan:
    """Write the plan; returns it as actually carried out.

    Only pull Secrets are indexed, so a create can meet a Secret of another type under the
    same name: that is a conflict, like any Secret cheiron does not own.
    """
    kube = runtime().kube
    labels = secret_labels(manager.uid)
    annotations = secret_annotations(manager)
    target = manager.spec.target
    if target is not None and target.secret is not None:
        # The user's labels and annotations for the merged Secret; cheiron's own win.
        labels = {**target.secret.labels, **labels}
        annotations = {**target.secret.annotations, **annotations}
    created, updates, conflicts = [], list(plan.update), list(plan.conflicts)
    for d in plan.create:
        if await asyncio.to_thread(
            kube.create_pull_secret, d.namespace, d.name, d.payload, labels, annotations
        ):
            created.append(d)
            await asyncio.to_thread(
                kube.event, ref, "Normal", "SecretCreated", f"created Secret {d.namespace}/{d.name}"
            )
            continue
        found = await asyncio.to_thread(kube.secret_labels, d.namespace, d.name) or {}
        if found.get(OWNER_UID_LABEL) == manager.uid:
            updates.append(d)  # ours, not yet seen by the watch
        else:
            conflicts.append(SecretInfo(d.namespace, d.name, "unknown", found.get(OWNER_UID_LABEL)))
    for d in updates:
        await asyncio.to_thread(kube.update_pull_secret, d.namespace, d.name, d.payload, labels)
        await asyncio.to_thread(
            kube.event, ref, "Normal", "SecretUpdated", f"updated Secret {d.namespace}/{d.name}"
        )
    for s in plan.delete:
        await asyncio.to_thread(kube.delete_secret, s.namespace, s.name)
        await asyncio.to_thread(
            kube.event, ref, "Normal", "SecretDeleted", f"deleted Secret {s.namespace}/{s.name}"
        )
    return SecretPlan(tuple(created), tuple(updates), plan.delete, tuple(conflicts))


async def reconcile(kind: ManagerKind, body: kopf.Body, idx: Indexes) -> str:
    """One pass of the manager machine; returns the phase it ended in."""
    kube = runtime().kube
    ref = _ref(kind, body)
    status = dict(body.get("status") or {})
    generation = int(body.metadata.get("generation") or 0)
    machine = ManagerMachine(status.get("phase"))
    try:
        manager = manager_info(kind, body)
    except ValidationError as e:
        # The schema should have refused this; say which field, never the values.
        message = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        machine.fire("reconcile")
        machine.fire("fail")
        wanted = {
            "phase": machine.state,
            "observedGeneration": generation,
            "conditions": [_condition(status, False, INVALID_SPEC, message, generation)],
        }
        if await _write_status(kind, body, wanted):
            await asyncio.to_thread(kube.event, ref, "Warning", INVALID_SPEC, message)
        return machine.state

    machine.fire("reconcile")
    outcomes = tuple(
        [
            await asyncio.to_thread(entries.resolve, manager, entry, kube.read_secret)
            for entry in manager.spec.secrets
        ]
    )
    machine.fire("resolved")

    namespaces = idx.namespace_map()
    target_namespaces = targets(manager, namespaces, idx.pods_in)
    existing = idx.owned_and_targeted(manager.uid, target_namespaces)
    written: tuple[EntryOutcome, ...] = outcomes
    overridden: tuple[str, ...] = ()
    if (merged := merged_name(manager)) is not None:
        single, overridden = merged_outcome(merged, outcomes)
        written = (single,)
    plan = plan_secrets(manager.uid, written, target_namespaces, existing)
    plan = await _apply(manager, plan, ref)
    machine.fire("materialized")

    after = apply_plan(existing, plan, manager.uid)
    touched = set(target_namespaces) | {s.namespace for s in plan.delete}
    writes = plan.writes
    for namespace in sorted(touched):
        in_ns = {s.name: s for s in after if s.namespace == namespace}
        writes += await sync_namespace(namespace, idx, in_ns)
    progress = Progress(outcomes, plan.conflicts)
    machine.fire("annotated", progress)

    reason, message = _summary(outcomes, plan.conflicts)
    if overridden:
        message += (
            f"; registries given by more than one entry (the first wins): {', '.join(overridden)}"
        )
    ready = machine.state == "Ready"
    reconciled = sum(
        1
        for ns in target_namespaces
        for account in in_namespace(
            idx.accounts if manager.mode is Mode.SERVICE_ACCOUNT else idx.pods, ns
        )
        if account.annotations.get(RECONCILED) == TRUE
    )
    wanted = {
        "phase": machine.state,
        "observedGeneration": generation,
        "conditions": [_condition(status, ready, reason, message, generation)],
        "secrets": sorted({o.name for o in written if o.ok}),
        "entries": [
            {"name": o.name, "ready": o.ok, "reason": o.reason, "message": o.message}
            for o in outcomes
        ],
        "targetNamespaces": len(target_namespaces),
        "reconciledObjects": reconciled,
        "podsNeedingRecreation": sum(
            1
            for ns in target_namespaces
            for pod in in_namespace(idx.pods, ns)
            if pod.annotations.get(NEEDS_RECREATION) == TRUE
        )
        if manager.mode is Mode.POD
        else 0,
    }
    previous_message = next(
        (c.get("message") for c in status.get("conditions", []) if c.get("type") == "Ready"), None
    )
    status_written = await _write_status(kind, body, wanted)
    if status_written and not ready and previous_message != message:
        await asyncio.to_thread(kube.event, ref, "Warning", reason, message)
    # One line per pass: how an operator sees that a converged cluster costs nothing.
    log.info("reconciled %s: %s, %d writes", manager.key, machine.state, writes + status_written)
    return machine.state


async def _report_failure(kind: ManagerKind, body: kopf.Body, error: Exception) -> None:
    """Show a failed pass in status (best effort); the type and API reason, never a body."""
    status = dict(body.get("status") or {})
    generation = int(body.metadata.get("generation") or 0)
    detail = getattr(error, "reason", None) or type(error).__name__
    message = f"reconcile failed ({type(error).__name__}: {detail}); retrying"
    wanted = {
        "phase": "Degraded",
        "conditions": [_condition(status, False, RECONCILE_ERROR, message, generation)],
    }
    try:
        if await _write_status(kind, body, wanted):
            await asyncio.to_thread(
                runtime().kube.event, _ref(kind, body), "Warning", RECONCILE_ERROR, message
            )
    except Exception:  # noqa: BLE001 - the API may be what failed; the log has it already
        log.debug("could not report the failure of %s", _key(kind, body))


async def _loop(
    kind: ManagerKind, body: kopf.Body, stopped: kopf.DaemonStopped, idx: Indexes
) -> None:
    rt = runtime()
    key = _key(kind, body)
    wake = rt.wakeups.setdefault(key, asyncio.Event())
    try:
        while not stopped:
            wake.clear()
            try:
                await reconcile(kind, body, idx)
                delay = rt.resync_seconds
            except Exception as e:
                log.exception("reconcile of %s failed; retrying", key)
                await _report_failure(kind, body, e)
                delay = 5.0
            waiter = asyncio.ensure_future(wake.wait())
            stopper = asyncio.ensure_future(stopped.wait())
            try:
                await asyncio.wait(
                    {waiter, stopper}, timeout=delay, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                waiter.cancel()
                stopper.cancel()
    finally:
        rt.wakeups.pop(key, None)


async def _cleanup(kind: ManagerKind, body: kopf.Body, idx: Indexes) -> None:
    kube = runtime().kube
    uid = body.metadata.uid
    owned = await asyncio.to_thread(kube.list_owned_secrets, f"{OWNER_UID_LABEL}={uid}")
    for namespace, name in owned:
        await asyncio.to_thread(kube.delete_secret, namespace, name)
    # This manager is marked deleting in the index, so it provides nothing any more: every
    # namespace drops its names, and the ServiceAccount controller removes what it added.
    gone = {(ns, name) for ns, name in owned}
    remaining = [
        s for store in idx.secrets.values() for s in store if (s.namespace, s.name) not in gone
    ]
    for namespace in sorted(set(idx.accounts.keys()) | set(idx.pods.keys())):
        in_ns = {s.name: s for s in remaining if s.namespace == namespace}
        await sync_namespace(namespace, idx, in_ns)


def _register(kind: ManagerKind) -> None:
    plural = PLURALS[kind]

    @kopf.on.event(API_GROUP, API_VERSION, plural, id=f"{plural}-wake")
    async def wake(body: kopf.Body, **_: Any) -> None:
        runtime().wake(_key(kind, body))

    @kopf.daemon(API_GROUP, API_VERSION, plural, id=f"{plural}-loop", cancellation_timeout=10)
    async def loop(body: kopf.Body, stopped: kopf.DaemonStopped, **kwargs: Any) -> None:
        await _loop(kind, body, stopped, Indexes(kwargs))

    @kopf.on.delete(API_GROUP, API_VERSION, plural, id=f"{plural}-cleanup")
    async def cleanup(body: kopf.Body, **kwargs: Any) -> None:
        await _cleanup(kind, body, Indexes(kwargs))


for _kind in ManagerKind:
    _register(_kind)
