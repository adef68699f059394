"""ServiceAccount and Pod work: the manager's marks and the per-object controllers.

Both run from the work queue: an informer event queues the object's key, a worker reads the
object from the cache and brings it one step closer (nothing is written for an object that
is already right, so a converged cluster costs no writes). Managers and Secrets queue whole
namespaces.
"""

import asyncio
import logging
from collections.abc import Callable

from cheiron import metrics
from cheiron.api.meta import RECONCILED, TRUE
from cheiron.api.models import Mode
from cheiron.api.observed import AccountInfo, ManagerInfo, SecretInfo
from cheiron.fsm import pod as pod_fsm
from cheiron.fsm import serviceaccount as sa_fsm
from cheiron.k8s.informer import ADDED, LISTED, Key
from cheiron.k8s.objects import ObjectRef
from cheiron.pullsecrets.marks import mark_patch
from cheiron.pullsecrets.passes import NamespaceMarks, namespace_marks
from cheiron.runtime.state import runtime
from cheiron.runtime.tasks import spawn
from cheiron.runtime.views import Views, in_namespace

log = logging.getLogger(__name__)


async def sync_account(
    account: AccountInfo, is_pod: bool, names: tuple[str, ...], namespace_ignored: bool
) -> bool:
    """Bring one ServiceAccount or Pod one step closer; True when it wrote something."""
    kube = runtime().kube
    patch_fn = kube.patch_pod if is_pod else kube.patch_service_account
    marks = mark_patch(account.annotations, names, namespace_ignored)
    if marks is not None:
        # The manager's half of the protocol; the watch brings the object back for the rest.
        await asyncio.to_thread(
            patch_fn, account.namespace, account.name, {"metadata": {"annotations": marks}}
        )
        return True
    if is_pod:
        return await _sync_pod(account, namespace_ignored)
    state, patch = sa_fsm.plan(sa_fsm.Observed(account, namespace_ignored))
    log.debug("ServiceAccount %s/%s is %s", account.namespace, account.name, state)
    if patch is None:
        return False
    written = await asyncio.to_thread(
        kube.patch_service_account, account.namespace, account.name, patch.body()
    )
    if written and patch.pull_secrets is not None:
        added = [n for n in patch.pull_secrets if n not in account.pull_secrets]
        removed = [n for n in account.pull_secrets if n not in patch.pull_secrets]
        message = "; ".join(
            part
            for part in (
                f"added imagePullSecrets {', '.join(added)}" if added else "",
                f"removed imagePullSecrets {', '.join(removed)}" if removed else "",
            )
            if part
        )
        events = runtime().events
        if events is not None:
            # One counted Event per namespace and change, not one per ServiceAccount.
            events.record(
                account.namespace,
                type_="Normal",
                reason="PullSecretsUpdated",
                kind="ServiceAccount",
                name=account.name,
                detail=message,
            )
    return written


async def _sync_pod(pod: AccountInfo, namespace_ignored: bool) -> bool:
    observed = pod_fsm.Observed(pod, namespace_ignored)
    _state, patch, report = pod_fsm.plan(observed)
    if patch is None:
        return False
    kube = runtime().kube
    written = await asyncio.to_thread(
        kube.patch_pod, pod.namespace, pod.name, {"metadata": {"annotations": patch}}
    )
    if written and report:
        # The managers count flagged Pods in their status; wake-ups coalesce per manager.
        runtime().wake(*runtime().wakeups)
        await _event(
            pod,
            "Pod",
            "Warning",
            "NeedsRecreation",
            "created without the pull secrets "
            f"{', '.join(pod_fsm.missing(observed))}; a Pod's imagePullSecrets cannot change "
            "after creation, so it gets them only when recreated",
        )
    return written


async def _event(account: AccountInfo, kind: str, type_: str, reason: str, message: str) -> None:
    ref = ObjectRef(kind, "v1", account.name, account.namespace, account.uid)
    await asyncio.to_thread(runtime().kube.event, ref, type_, reason, message)


async def sync_namespace(namespace: str, idx: Views, marks: NamespaceMarks | None = None) -> int:
    """Mark and reconcile every ServiceAccount and Pod of a namespace; returns writes made.

    `marks` are what a manager's pass computed with the Secrets it just wrote, since the
    watch may not have delivered them yet; without them, the cache's view decides.
    """
    # A pass over 1,000 namespaces computes each one's marks in turn: let the new namespace
    # that arrives meanwhile be served between two of them.
    await asyncio.sleep(0)
    if marks is None:
        marks = namespace_marks(namespace, idx, idx.secrets_in(namespace))
    work = [sync_account(a, False, names, marks.ignored) for a, names in marks.accounts]
    work += [sync_account(p, True, names, marks.ignored) for p, names in marks.pods]
    # The objects of one namespace are independent: write them side by side.
    writes = sum(await asyncio.gather(*work))
    if not marks.ignored:
        writes += await _recover_namespace(namespace, idx, dict(marks.secrets))
    return writes


async def _recover_namespace(namespace: str, idx: Views, secrets: dict[str, SecretInfo]) -> int:
    """New secrets, or a ServiceAccount that now lists them, may be what a stuck Pod needs."""
    if not any(m.spec.recreate_stuck_pods for m in idx.managers_in(namespace)):
        return 0
    deleted = 0
    for pod in in_namespace(idx.pods, namespace):
        deleted += await _recover(pod, idx.offered(namespace, secrets, pod))
    return deleted


async def process_account(namespace: str, name: str, pod: bool, idx: Views) -> None:
    """The work of one ServiceAccount or Pod key: mark, append or flag, recover stuck Pods."""
    account = (idx.pods if pod else idx.accounts).get_object(namespace, name)
    if account is None:
        return  # gone since it was queued
    secrets = idx.secrets_in(namespace)
    if pod:
        names = idx.names(namespace, Mode.POD, secrets=secrets)
    else:
        names = idx.names(namespace, Mode.SERVICE_ACCOUNT, secrets=secrets, account=account)
    usable = idx.namespace_usable(namespace)
    with metrics.timed("pod" if pod else "serviceaccount"):
        await sync_account(account, pod, names, not usable)
    if not usable:
        return
    if not pod:
        # A ServiceAccount that now lists its secrets lets its stuck Pods be recreated.
        await _recover_namespace(namespace, idx, secrets)
        return
    await _recover(account, idx.offered(namespace, secrets, account))


def account_changed(
    pod: bool, idx: Views
) -> Callable[[str, Key, AccountInfo | None, AccountInfo | None], None]:
    """The informer handler of ServiceAccounts (or Pods): queue the object's key."""
    rt = runtime()

    def handler(kind: str, key: Key, old: AccountInfo | None, new: AccountInfo | None) -> None:
        namespace, name = key
        if pod and (old is None or new is None or old.labels != new.labels):
            # Pods can make their namespace a target (namespacesWithPods).
            rt.wake(*(m.key for m in idx.managers() if _selects_by_pods(m)))
        _count_reconciled(namespace, name, new, pod, idx)
        if new is None or old == new or kind == LISTED:
            # Gone, or nothing cheiron reads changed (a Pod's status, say), or the first
            # list, whose namespace keys cover every object.
            return
        if pod and kind == ADDED:
            spawn(_report_bypass(new, idx, idx.secrets_in(namespace)))
        rt.enqueue(("pod" if pod else "account", namespace, name))

    return handler


def _count_reconciled(
    namespace: str, name: str, account: AccountInfo | None, pod: bool, idx: Views
) -> None:
    """Refresh a namespace's managers when one of its objects becomes reconciled or stops being so.

    `status.reconciledObjects` then follows once the changes pause (1.5 s, at most 10 s
    after the first) instead of at the next resync; a burst of changes makes one pass.
    """
    rt = runtime()
    key = (namespace, name, pod)
    now = account is not None and account.annotations.get(RECONCILED) == TRUE
    if now == (key in rt.reconciled):
        return
    if now:
        rt.reconciled.add(key)
    else:
        rt.reconciled.discard(key)
    mode = Mode.POD if pod else Mode.SERVICE_ACCOUNT
    rt.wake_soon(*(m.key for m in idx.managers_in(namespace) if m.mode is mode))


def _selects_by_pods(manager: ManagerInfo) -> bool:
    target = getattr(manager.spec, "target", None)
    return target is not None and target.namespaces_with_pods is not None


async def _report_bypass(pod: AccountInfo, idx: Views, secrets: dict[str, SecretInfo]) -> None:
    """A Pod with its own list never gets its ServiceAccount's: say so, do not pretend."""
    if not pod.pull_secrets:
        return
    from_account = idx.names(pod.namespace, Mode.SERVICE_ACCOUNT, secrets=secrets)
    skipped = [n for n in from_account if n not in pod.pull_secrets]
    if skipped:
        await _event(
            pod,
            "Pod",
            "Warning",
            "ServiceAccountSecretsBypassed",
            "the Pod lists its own imagePullSecrets, so Kubernetes did not add its "
            f"ServiceAccount's: {', '.join(skipped)}",
        )


async def _recover(pod: AccountInfo, offered: dict[str, tuple[str, ...]]) -> bool:
    """Delete an owned Pod stuck on a pull its owner's next Pod will have secrets for."""
    if not offered or pod_fsm.ignored(pod_fsm.Observed(pod)):
        return False
    if not pod_fsm.should_recreate(pod, offered):
        return False
    kube = runtime().kube
    deleted = await asyncio.to_thread(kube.delete_pod, pod.namespace, pod.name, pod.uid)
    if deleted:
        log.info(
            "deleted stuck Pod %s/%s so its %s recreates it",
            pod.namespace,
            pod.name,
            pod.controller_kind,
        )
        await _event(
            pod,
            "Pod",
            "Normal",
            "RecreatedForPullSecrets",
            f"deleted: stuck pulling {', '.join(pod.stuck_images)} without the pull secrets "
            f"cheiron provides; its {pod.controller_kind} recreates it with them",
        )
    return deleted
