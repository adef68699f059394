"""What both admission handlers share: the decision for an object being created."""

import asyncio

import kopf

from cheiron import metrics
from cheiron.api.models import Mode
from cheiron.api.observed import account_info
from cheiron.pullsecrets.admission import admit
from cheiron.runtime.views import Views, current

# An object can arrive a moment before the watch has shown its brand-new namespace (and so
# its opt-out annotation): wait that long for the index rather than ask the API server.
NAMESPACE_GRACE_SECONDS = 0.5


async def _await_namespace(idx: Views, namespace: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + NAMESPACE_GRACE_SECONDS
    while namespace not in idx.namespaces and loop.time() < deadline:
        await asyncio.sleep(0.01)


async def decide(body: kopf.Body, *, pod: bool) -> tuple[tuple[str, ...], dict[str, str]] | None:
    """The pull secrets and marks an object being created should have (None: none)."""
    namespace = body.metadata.namespace
    if not namespace:
        return None  # the apiserver fills it before admission; nothing sensible without
    idx = current()
    if not idx.caches.synced:
        # Nothing decides from a half-filled cache: admit unchanged, as when the webhook is
        # down; the Pod controller flags what it missed once the caches are in.
        return None
    with metrics.timed("webhook"):
        await _await_namespace(idx, namespace)
        account = account_info(body, pod=pod)
        names = idx.names(
            namespace,
            Mode.POD if pod else Mode.SERVICE_ACCOUNT,
            account=None if pod else account,
            include_pending=True,
        )
        return admit(account, names, not idx.namespace_usable(namespace))
