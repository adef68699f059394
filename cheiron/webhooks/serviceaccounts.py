"""Optional mutating admission for ServiceAccount CREATE: born with its pull secrets.

Without it a new ServiceAccount is patched a moment after creation; a Pod created in that
moment would miss the secrets. With it the first write already carries them.
"""

from typing import Any

import kopf

from cheiron.webhooks.common import decide

SERVICE_ACCOUNT_WEBHOOK = "serviceaccount-pull-secrets"


@kopf.on.mutate(
    "",
    "v1",
    "serviceaccounts",
    id=SERVICE_ACCOUNT_WEBHOOK,
    operations=["CREATE"],
    side_effects=False,
)
async def inject_pull_secrets(*, body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    """Add the managed pull Secrets of the namespace to a ServiceAccount being created."""
    decision = await decide(body, pod=False)
    if decision is not None:
        pull_secrets, annotations = decision
        patch["imagePullSecrets"] = [{"name": name} for name in pull_secrets]
        patch.metadata["annotations"] = annotations
