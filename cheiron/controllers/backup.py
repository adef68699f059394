"""ClusterImageBackup handlers: copy workload images into a backup registry, then rewrite.

One reconcile loop (kopf daemon) per backup decides from the cache views (cheiron.images.rules),
folds finished copies into the image machine (cheiron.fsm.backup), starts due copies as
background tasks (bounded by the spec's copyConcurrency, so a slow registry never holds up
a pass), keeps the pull-Secret manager of the rewritten namespaces, points workloads at
verified backups (rewrite=Workloads) and writes status only when it changed. A finished
copy wakes the loop; a failed one is retried with backoff. A private source's image is
copied only where no other pull credential of the backup can read it (`_kept_apart`).
"""

import asyncio
import datetime
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf
from pydantic import ValidationError

from cheiron import API_GROUP, API_VERSION, metrics
from cheiron.api.meta import BACKUP_ORIGINALS
from cheiron.api.models import (
    BackedUpImage,
    ClusterCredentialsRef,
    ClusterImageBackupSpec,
    ImageState,
    RegistryTls,
    Rewrite,
    validation_message,
)
from cheiron.api.observed import AccountInfo, BackupInfo, NamespaceInfo, WorkloadInfo, backup_info
from cheiron.controllers.loops import wake_loop
from cheiron.controllers.managers import write_status
from cheiron.fsm import backup as image_fsm
from cheiron.images.reference import InvalidReference, digest_tag, normalise_host
from cheiron.images.rules import (
    Scope,
    Wanted,
    backup_reference,
    merge_records,
    plan_rewrite,
    pull_credentials,
    pull_secret_managers,
    pull_secret_targets,
    rewrite_operations,
    scope_of,
    scopes,
    source_hosts,
    source_of,
    wanted_images,
    workload_selected,
)
from cheiron.k8s.informer import LISTED, Key
from cheiron.k8s.objects import ObjectRef
from cheiron.pullsecrets.renewal import backoff
from cheiron.pullsecrets.status import condition
from cheiron.runtime.state import runtime
from cheiron.runtime.views import Views, current, in_namespace
from cheiron.sources import skopeo

log = logging.getLogger(__name__)

PLURAL = "clusterimagebackups"
WORKLOAD_PLURALS = {
    "deployments": "Deployment",
    "daemonsets": "DaemonSet",
    "statefulsets": "StatefulSet",
}
INVALID_SPEC = "InvalidSpec"


# --- in-process state ----------------------------------------------------------------


@dataclass
class _Copies:
    """One backup's copies in this process: running, finished since the last pass."""

    limit: asyncio.Semaphore
    running: dict[str, "asyncio.Task[None]"] = field(default_factory=dict)
    finished: dict[str, skopeo.CopyResult | str] = field(default_factory=dict)
    # The records as last written: status read through the watch may lag behind them.
    records: dict[str, BackedUpImage] | None = None
    # UIDs of the pull-Secret managers this backup applied, by name (None: the name is taken).
    manager_uids: dict[str, str | None] = field(default_factory=dict)


_copies: dict[str, _Copies] = {}


def _key(name: str) -> str:
    return f"ClusterImageBackup/{name}"


# --- credentials ---------------------------------------------------------------------


class _CredentialsError(Exception):
    """A referenced credentials Secret or key is missing (the message names which)."""


def _credentials(ref: ClusterCredentialsRef) -> tuple[str, str]:
    secret = runtime().kube.read_secret(ref.namespace, ref.name)
    where = f"Secret {ref.namespace}/{ref.name}"
    if secret is None:
        raise _CredentialsError(f"{where} not found")
    values = []
    for key in (ref.username_key, ref.password_key):
        if key not in secret.data:
            raise _CredentialsError(f"{where} has no key {key}")
        values.append(secret.data[key].decode())
    return values[0], values[1]


def _access(
    host: str, tls: RegistryTls, ref: ClusterCredentialsRef | None
) -> skopeo.RegistryAccess:
    user, password = _credentials(ref) if ref is not None else (None, None)
    return skopeo.RegistryAccess(host, user, password, tls.ca_bundle, tls.insecure)


def _registries(spec: ClusterImageBackupSpec) -> tuple[skopeo.RegistryAccess, ...]:
    """Every registry's access, the backup registry's last (it wins if also listed a source).

    One entry per host, the one the backup rules read it with (credentialed first).
    """
    sources = [
        _access(host, entry, entry.credentials_secret_ref)
        for host, entry in source_hosts(spec).items()
    ]
    registry = spec.registry
    return (
        *sources,
        _access(normalise_host(registry.host), registry, registry.credentials_secret_ref),
    )


@dataclass(frozen=True)
class _Apart:
    """A private scope's backups: the logins that must not read them, and its own."""

    others: tuple[tuple[str, skopeo.RegistryAccess], ...]
    own: skopeo.RegistryAccess | None


def _login_name(scope: Scope) -> str:
    ref = scope.credentials
    assert ref is not None  # noqa: S101 - only scopes with credentials are named
    return f"the pull credentials of {scope.secret} (Secret {ref.namespace}/{ref.name})"


def _apart(spec: ClusterImageBackupSpec, backup_name: str, host: str) -> _Apart:
    """What a copy of a private image from `host` checks (reads the credentials' Secrets)."""
    registry, backup_host = spec.registry, normalise_host(spec.registry.host)
    mine = scope_of(spec, backup_name, host)
    others = tuple(
        (_login_name(s), _access(backup_host, registry, s.credentials))
        for s in scopes(spec, backup_name)
        if s.secret != mine.secret and s.credentials is not None
    )
    own = _access(backup_host, registry, mine.credentials) if mine.credentials else None
    return _Apart(others, own)


# containers/image's words for a registry refusing a login (401 or 403, or a token without
# the repository in its access), once the repository named in the message is taken out.
_REFUSED = re.compile(r"unauthori[sz]ed|denied|forbidden|\b40[13]\b", re.IGNORECASE)


async def _readable(access: skopeo.RegistryAccess, repository: str, reference: str) -> bool:
    """Whether a login reads a repository: refused, or it answers (found or not found).

    "Not found" counts as readable: once the backup is there, that login would get it.
    Any other error is raised (skopeo.CopyError): nothing is decided on a silent registry.
    """
    try:
        await skopeo.read_digest(reference, (access,))
    except skopeo.CopyError as e:
        path = repository.partition("/")[2]
        if _REFUSED.search(str(e).replace(repository, "").replace(path, "")):
            return False
        raise
    return True


async def _kept_apart(apart: _Apart, repository: str, digest: str | None) -> str | None:
    """Why a private image must not be copied to `repository` (None: it may).

    Before the copy, so no byte of it ever lies where another scope's login reads it.
    """
    reference = f"{repository}@{digest}" if digest else f"{repository}:latest"
    for name, access in apart.others:
        if await _readable(access, repository, reference):
            return (
                f"not copied: {name} can read {repository}, so every namespace given them "
                "could pull this private image; the backup registry must let only this "
                "source's pull credentials read its path"
            )
    return None


async def _private_backup(request: skopeo.CopyRequest, apart: _Apart) -> skopeo.CopyResult | str:
    """A private image's copy: kept apart from other logins, then read with its own."""
    refused = await _kept_apart(apart, request.repository, request.source_digest)
    if refused is not None:
        return refused
    result = await skopeo.backup(request)
    if apart.own is None or result.backup_digest != result.source_digest:
        return result
    pinned = f"{request.repository}@{result.source_digest}"
    if await skopeo.read_digest(pinned, (apart.own,)) != result.source_digest:
        return f"copied, but its own pull credentials cannot read {request.repository}"
    return result


NO_PULL_CREDENTIALS = (
    "registry.pullCredentialsSecretRef is not set: no namespace gets a pull Secret and no "
    "workload is pointed at its backup (the push credentials are handed out only with "
    "registry.sharePushCredentials: true)"
)
NO_SCOPE_PULL_CREDENTIALS = (
    "sourceRegistries {host}: backupPullCredentialsSecretRef is not set: its images are "
    "backed up, but no workload is pointed at them (only credentials that read this "
    "source's backups alone may be handed out)"
)


# --- copies --------------------------------------------------------------------------


async def _copy(
    key: str,
    copies: _Copies,
    source: str,
    request: skopeo.CopyRequest,
    apart: _Apart | None = None,
) -> None:
    try:
        async with copies.limit:
            copies.finished[source] = (
                await skopeo.backup(request)
                if apart is None
                else await _private_backup(request, apart)
            )
    except skopeo.CopyError as e:
        copies.finished[source] = str(e)
    except Exception as e:
        log.exception("backup of %s failed", source)
        copies.finished[source] = f"{type(e).__name__} while copying"
    finally:
        copies.running.pop(source, None)
        runtime().wake(key)


def _request(
    want: Wanted, digest: str | None, registries: tuple[skopeo.RegistryAccess, ...]
) -> skopeo.CopyRequest:
    return skopeo.CopyRequest(
        source=want.source.name,
        source_repository=want.source.repository,
        repository=want.repository,
        tag=digest_tag,
        source_digest=digest,
        registries=registries,
    )


def _same_source(spec: ClusterImageBackupSpec, image: str, namespace: str, source: str) -> bool:
    try:
        ref = source_of(spec, image, namespace)
    except InvalidReference:
        return False
    return ref is not None and ref.name == source


def _fold(
    spec: ClusterImageBackupSpec,
    record: BackedUpImage,
    want: Wanted,
    outcome: skopeo.CopyResult | str,
    now: datetime.datetime,
) -> BackedUpImage:
    """A finished copy through the machine: BackedUp when verified, else Failed with why."""
    if isinstance(outcome, skopeo.CopyResult):
        observed = image_fsm.CopyObservation(
            source_digest=outcome.source_digest, backup_digest=outcome.backup_digest
        )
        state = image_fsm.fire(record.state, "done", observed)
        if state == image_fsm.BACKED_UP:
            return BackedUpImage(
                source=record.source,
                state=ImageState.BACKED_UP,
                digest=outcome.source_digest,
                backup=backup_reference(spec, want, outcome.source_digest),
            )
        error = (
            f"digest read back from the backup ({outcome.backup_digest or 'none'}) differs "
            f"from the source's ({outcome.source_digest})"
        )
    else:
        state, error = image_fsm.fire(record.state, "error"), outcome
    attempts = record.attempts + 1
    return record.model_copy(
        update={
            "state": ImageState(state),
            "attempts": attempts,
            "last_error": error[:2048],
            "next_attempt": now + datetime.timedelta(seconds=backoff(attempts)),
        }
    )


def _due(records: dict[str, BackedUpImage], copies: _Copies, now: datetime.datetime) -> list[str]:
    """Images whose copy should start now (the machine allows `copy`)."""
    return [
        source
        for source, record in records.items()
        if source not in copies.running
        and record.state in (ImageState.PENDING, ImageState.FAILED)
        and image_fsm.fire(
            record.state,
            "copy",
            image_fsm.CopyObservation(now=now, next_attempt=record.next_attempt),
        )
        == image_fsm.COPYING
    ]


async def _schedule(
    info: BackupInfo,
    records: dict[str, BackedUpImage],
    wanted: dict[str, Wanted],
    copies: _Copies,
    now: datetime.datetime,
) -> None:
    """Start the copies that are due; each runs on its own, bounded by the semaphore."""
    due = _due(records, copies, now)
    if not due:
        return
    key = _key(info.name)
    private_hosts = {wanted[s].source.host for s in due if wanted[s].private}

    def logins() -> tuple[tuple[skopeo.RegistryAccess, ...], dict[str, _Apart]]:
        aparts = {h: _apart(info.spec, info.name, h) for h in sorted(private_hosts)}
        return _registries(info.spec), aparts

    try:
        registries, aparts = await asyncio.to_thread(logins)
    except _CredentialsError as e:
        # Nothing to copy with: each due image finishes at once with why, as a failed copy.
        copies.finished.update(dict.fromkeys(due, str(e)))
        registries, aparts = None, {}
    for source in due:
        record, want = records[source], wanted[source]
        records[source] = record.model_copy(
            update={"state": ImageState(image_fsm.fire(record.state, "copy"))}
        )
        if registries is not None:
            request = _request(want, record.digest or want.source.digest, registries)
            apart = aparts[want.source.host] if want.private else None
            copies.running[source] = asyncio.get_running_loop().create_task(
                _copy(key, copies, source, request, apart)
            )
    if registries is None:
        runtime().wake(key)


# --- rewriting -----------------------------------------------------------------------


def _workload_ref(w: WorkloadInfo) -> ObjectRef:
    return ObjectRef(w.kind, "apps/v1", w.name, w.namespace, w.uid)


async def _event(w: WorkloadInfo, reason: str, message: str) -> None:
    await asyncio.to_thread(runtime().kube.event, _workload_ref(w), "Normal", reason, message)


async def _rewrite(
    info: BackupInfo,
    workloads: Iterable[WorkloadInfo],
    records: dict[str, BackedUpImage],
    idx: Views,
) -> None:
    """Point workloads whose images are all backed up at their backups."""
    for w in workloads:
        account = next(
            (a for a in in_namespace(idx.accounts, w.namespace) if a.name == w.service_account),
            None,
        )
        rewrite = plan_rewrite(
            info.spec,
            info.name,
            w,
            records,
            secrets_present=idx.secrets_in(w.namespace),
            account_secrets=account.pull_secrets if account is not None else (),
        )
        if rewrite is None:
            continue
        patched = await asyncio.to_thread(
            runtime().kube.patch_workload,
            w.kind,
            w.namespace,
            w.name,
            rewrite_operations(rewrite),
        )
        if patched:
            images = ", ".join(f"{c.container.name}: {c.image}" for c in rewrite.changes)
            await _event(w, "ImageRewritten", f"pointed at backups ({images})")


# --- the reconcile -------------------------------------------------------------------


def all_workloads(idx: Views) -> list[WorkloadInfo]:
    """Every indexed Deployment, DaemonSet and StatefulSet."""
    return idx.workloads.all() if idx.workloads is not None else []


async def _ensure_manager(
    idx: Views, manager: dict[str, Any], copies: _Copies, owner_uid: str
) -> bool:
    """Apply a pull-Secret manager unless the watch shows it applied; False: not ours."""
    name = manager["metadata"]["name"]
    if not _manager_applied(idx, manager, copies.manager_uids.get(name)):
        copies.manager_uids[name] = await asyncio.to_thread(
            runtime().kube.apply_cluster_manager, manager, owner_uid
        )
    return copies.manager_uids[name] is not None


async def _hand_out(
    info: BackupInfo, workloads: list[WorkloadInfo], idx: Views, copies: _Copies
) -> tuple[list[str], list[str]]:
    """Apply the managers of the backup's pull Secrets, one per scope.

    Returns the namespaces given any of them, and the managers whose names are taken.
    """
    targets = pull_secret_targets(info.spec, info.name, workloads, set(info.namespaces))
    conflicts = []
    for manager in pull_secret_managers(info.name, info.uid, info.spec, targets):
        if not await _ensure_manager(idx, manager, copies, info.uid):
            conflicts.append(manager["metadata"]["name"])
    return sorted({n for namespaces in targets.values() for n in namespaces}), conflicts


def _manager_applied(idx: Views, manager: dict[str, Any], applied_uid: str | None) -> bool:
    """The manager this backup applied is watched with this spec: applying changes nothing.

    Passes run on every workload, ServiceAccount and Namespace event; without this each
    would cost a create refused with 409 and a read.
    """
    current = [
        m
        for m in (idx.cipsm.all() if idx.cipsm is not None else [])
        if m.name == manager["metadata"]["name"]
    ]
    return (
        applied_uid is not None
        and len(current) == 1
        and current[0].uid == applied_uid
        and current[0].spec.model_dump(by_alias=True, exclude_none=True, mode="json")
        == manager["spec"]
    )


def _status_images(records: dict[str, BackedUpImage], invalid: dict[str, str]) -> list[Any]:
    failed = [
        BackedUpImage(source=image, state=ImageState.FAILED, last_error=error)
        for image, error in sorted(invalid.items())
    ]
    return [r.wire() for r in [*records.values(), *failed]]


async def _invalid(body: kopf.Body, error: ValidationError) -> float:
    status = dict(body.get("status") or {})
    generation = int(body.metadata.get("generation") or 0)
    message = validation_message(error)
    await write_status(
        PLURAL,
        body,
        {
            "observedGeneration": generation,
            "conditions": [
                condition(status, False, INVALID_SPEC, message, generation, runtime().clock())
            ],
        },
    )
    return runtime().resync_seconds


async def reconcile(body: kopf.Body, idx: Views) -> float:
    """One pass; returns the seconds until the next one is due at the latest."""
    rt = runtime()
    try:
        info = backup_info(body)
    except ValidationError as e:
        return await _invalid(body, e)
    spec, now = info.spec, rt.clock()
    copies = _copies.setdefault(info.uid, _Copies(asyncio.Semaphore(spec.copy_concurrency)))
    namespaces = idx.namespace_map()
    workloads = [
        w
        for w in all_workloads(idx)
        if workload_selected(spec, w, namespaces, rt.operator_namespace)
    ]
    wanted, invalid = wanted_images(spec, workloads)
    records = merge_records(
        wanted, copies.records.values() if copies.records is not None else info.images
    )

    backed_up: list[str] = []
    for source in list(copies.finished):
        outcome = copies.finished.pop(source)
        record = records.get(source)
        if record is None or record.state is not ImageState.COPYING:
            continue
        records[source] = _fold(spec, record, wanted[source], outcome, now)
        if records[source].state is ImageState.BACKED_UP:
            backed_up.append(source)
    for source, record in records.items():
        if record.state is ImageState.COPYING and source not in copies.running:
            records[source] = record.model_copy(
                update={"state": ImageState(image_fsm.fire(record.state, "interrupted"))}
            )
    await _schedule(info, records, wanted, copies, now)
    copies.records = dict(records)

    for source in backed_up:
        for w in workloads:
            if any(_same_source(spec, c.image, w.namespace, source) for c in w.containers):
                await _event(w, "ImageBackedUp", f"{source} backed up as {records[source].backup}")

    secret_namespaces, conflicts = await _hand_out(info, workloads, idx, copies)
    if spec.rewrite is Rewrite.WORKLOADS and not conflicts:
        await _rewrite(info, workloads, records, idx)
    rewritten = sum(1 for w in workloads if BACKUP_ORIGINALS in w.annotations)

    counts = {state: 0 for state in ImageState}
    for record in records.values():
        counts[record.state] += 1
    failed = counts[ImageState.FAILED] + len(invalid)
    ready, reason, message = _readiness(spec, records, invalid, counts, conflicts)
    pending = counts[ImageState.PENDING] + counts[ImageState.COPYING]
    metrics.backup_images(info.name, counts[ImageState.BACKED_UP], pending, failed)
    status = dict(body.get("status") or {})
    await write_status(
        PLURAL,
        body,
        {
            "observedGeneration": info.generation,
            "conditions": [condition(status, ready, reason, message, info.generation, now)],
            "images": _status_images(records, invalid),
            "backedUp": counts[ImageState.BACKED_UP],
            "pending": pending,
            "failed": failed,
            "namespaces": secret_namespaces,
            "rewritten": rewritten,
        },
    )
    retries = [
        (r.next_attempt - now).total_seconds()
        for r in records.values()
        if r.state is ImageState.FAILED and r.next_attempt is not None
    ]
    return max(0.5, min([rt.resync_seconds, *retries]))


def _readiness(
    spec: ClusterImageBackupSpec,
    records: Mapping[str, BackedUpImage],
    invalid: Mapping[str, str],
    counts: Mapping[ImageState, int],
    conflicting: list[str],
) -> tuple[bool, str, str]:
    """The Ready condition's status, reason and message: what stops the backup first."""
    problems = [f"{r.source}: {r.last_error}" for r in records.values() if r.last_error]
    problems += [f"{image}: {error}" for image, error in invalid.items()]
    for name in reversed(conflicting):
        problems.insert(
            0,
            f"ClusterImagePullSecretManager {name} exists and is not this backup's; "
            "not overwritten",
        )
    unscoped = [
        host
        for host, entry in source_hosts(spec).items()
        if entry.credentials_secret_ref is not None
        and entry.backup_pull_credentials_secret_ref is None
    ]
    no_pull_credentials = pull_credentials(spec) is None or bool(unscoped)
    problems[:0] = [NO_SCOPE_PULL_CREDENTIALS.format(host=host) for host in unscoped]
    if pull_credentials(spec) is None:
        problems.insert(0, NO_PULL_CREDENTIALS)
    ready = not problems and counts[ImageState.BACKED_UP] == len(records)
    reason = "BackedUp" if ready else ("BackupFailed" if problems else "Copying")
    if no_pull_credentials:
        reason = "PullCredentialsRequired"
    message = "; ".join(problems)[:4000] or f"{counts[ImageState.BACKED_UP]} images backed up"
    return ready, reason, message


# --- registration --------------------------------------------------------------------


async def _loop(body: kopf.Body, stopped: kopf.DaemonStopped, idx: Views) -> None:
    name, uid = body.metadata.name or "", body.metadata.uid or ""
    key = _key(name)

    async def once() -> float:
        try:
            return await reconcile(body, idx)
        except Exception:
            log.exception("reconcile of %s failed; retrying", key)
            return 5.0

    try:
        await wake_loop(key, stopped, once)
    finally:
        # The backup is gone (or the operator stops): its copies stop with it.
        copies = _copies.pop(uid, None)
        for task in copies.running.values() if copies else ():
            task.cancel()
        metrics.forget_backup(name)


def _wake_all(idx: Views) -> None:
    runtime().wake(*(_key(b.name) for b in (idx.backups.all() if idx.backups is not None else [])))


def _workload_changed(idx: Views) -> Callable[..., None]:
    def handler(kind: str, _key: Key, old: WorkloadInfo | None, new: WorkloadInfo | None) -> None:
        # Status-only updates (a rollout's progress) change nothing a backup reads.
        if kind != LISTED and old != new:
            _wake_all(idx)

    return handler


def _account_changed(idx: Views) -> Callable[..., None]:
    def handler(kind: str, _key: Key, old: AccountInfo | None, new: AccountInfo | None) -> None:
        # A ServiceAccount that lists a backup's pull Secret may open a workload's rewrite.
        listed = new.pull_secrets if new is not None else ()
        if (old is None or old.pull_secrets != listed) and any(
            n.startswith("backup-") for n in listed
        ):
            _wake_all(idx)

    return handler


def _namespace_changed(idx: Views) -> Callable[..., None]:
    def handler(kind: str, _key: Key, old: NamespaceInfo | None, new: NamespaceInfo | None) -> None:
        if kind != LISTED and old != new:
            _wake_all(idx)

    return handler


def register_backup_watches(idx: Views) -> None:
    """Wake the backup loops on the informer events that concern them."""
    if idx.workloads is None or idx.backups is None:
        return
    idx.workloads.add_handler(_workload_changed(idx))
    idx.accounts.add_handler(_account_changed(idx))
    idx.caches.namespaces.add_handler(_namespace_changed(idx))

    def backup_changed(kind: str, key: Key, _old: object, _new: object) -> None:
        runtime().wake(_key(key[1]))

    idx.backups.add_handler(backup_changed)


def watch_backups() -> None:
    """Run the backup loops: a cluster-wide operator only.

    Backups read and write workloads in every namespace and hold push credentials, so a
    namespaced operator does not watch them (like ClusterImagePullSecretManagers).
    """

    @kopf.on.event(API_GROUP, API_VERSION, PLURAL, id=f"{PLURAL}-wake")
    async def wake(body: kopf.Body, **_: Any) -> None:
        runtime().wake(_key(body.metadata.name or ""))

    @kopf.daemon(API_GROUP, API_VERSION, PLURAL, id=f"{PLURAL}-loop", cancellation_timeout=10)
    async def loop(body: kopf.Body, stopped: kopf.DaemonStopped, **_: Any) -> None:
        idx = current()
        await idx.caches.wait_synced()
        await idx.caches.wait_workloads()  # listed from the first backup on
        await _loop(body, stopped, idx)
