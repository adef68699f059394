"""Mutating admission for Pod CREATE: the pull secrets of Pod-mode managers, added at birth.

Everything comes from the in-memory indexes: no API call is made while a request waits.
"""

from typing import Any

import kopf

from cheiron.api.models import Mode
from cheiron.api.observed import account_info
from cheiron.controllers.indexes import Indexes
from cheiron.fsm.manager import names_in_namespace
from cheiron.fsm.pod import admit

POD_WEBHOOK = "pod-pull-secrets"


@kopf.on.mutate("", "v1", "pods", id=POD_WEBHOOK, operations=["CREATE"], side_effects=False)
def inject_pull_secrets(*, body: kopf.Body, patch: kopf.Patch, **kwargs: Any) -> None:
    """Add the managed pull Secrets of the Pod's namespace to a Pod being created."""
    idx = Indexes(kwargs)
    if not body.metadata.namespace:
        return  # the apiserver fills it before admission; nothing sensible to do without
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
