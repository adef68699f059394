"""Mutating admission for Pod CREATE: the pull secrets of Pod-mode managers, added at birth.

Everything comes from the in-memory indexes: no API call is made while a request waits.
"""

import asyncio
from typing import Any

import kopf

from cheiron.api.models import Mode
from cheiron.api.observed import account_info
from cheiron.controllers.indexes import Indexes
from cheiron.fsm.manager import names_in_namespace
from cheiron.fsm.pod import admit

POD_WEBHOOK = "pod-pull-secrets"


# A Pod can arrive a moment before the watch has shown its brand-new namespace (and so its
# opt-out annotation): wait that long for the index rather than ask the API server.
NAMESPACE_GRACE_SECONDS = 0.5


async def _await_namespace(idx: Indexes, namespace: str) -> None:
    deadline = asyncio.get_running_loop().time() + NAMESPACE_GRACE_SECONDS
    while namespace not in idx.namespaces and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)


@kopf.on.mutate("", "v1", "pods", id=POD_WEBHOOK, operations=["CREATE"], side_effects=False)
async def inject_pull_secrets(*, body: kopf.Body, patch: kopf.Patch, **kwargs: Any) -> None:
    """Add the managed pull Secrets of the Pod's namespace to a Pod being created."""
    idx = Indexes(kwargs)
    if not body.metadata.namespace:
        return  # the apiserver fills it before admission; nothing sensible to do without
    await _await_namespace(idx, body.metadata.namespace)
    pod = account_info(body, pod=True)
    names = names_in_namespace(
        pod.namespace,
        Mode.POD,
        idx.managers(),
        idx.namespace_map(),
        idx.secrets_in(pod.namespace),
        include_pending=True,
    )
    decision = admit(pod, names, not idx.namespace_usable(pod.namespace))
    if decision is None:
        return
    pull_secrets, annotations = decision
    patch.spec["imagePullSecrets"] = [{"name": name} for name in pull_secrets]
    patch.metadata["annotations"] = annotations
