"""Mutating admission for Pod CREATE: the pull secrets of Pod-mode managers, added at birth.

Everything comes from the in-memory indexes: no API call is made while a request waits.
"""

from typing import Any

import kopf

from cheiron.webhooks.common import decide

POD_WEBHOOK = "pod-pull-secrets"


@kopf.on.mutate("", "v1", "pods", id=POD_WEBHOOK, operations=["CREATE"], side_effects=False)
async def inject_pull_secrets(*, body: kopf.Body, patch: kopf.Patch, **kwargs: Any) -> None:
    """Add the managed pull Secrets of the Pod's namespace to a Pod being created."""
    decision = await decide(body, kwargs, pod=True)
    if decision is not None:
        pull_secrets, annotations = decision
        patch.spec["imagePullSecrets"] = [{"name": name} for name in pull_secrets]
        patch.metadata["annotations"] = annotations
