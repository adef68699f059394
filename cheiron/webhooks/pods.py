"""Mutating admission for Pod CREATE: pull secrets of Pod-mode managers, and backed-up images.

Everything comes from the cache views (cheiron.runtime.views): no API call while a request waits.
"""

from typing import Any

import kopf

from cheiron.api.observed import pod_spec_images
from cheiron.images.rules import PodFacts, PodRewrite, admit_pod, pod_admission_patch
from cheiron.runtime.state import runtime
from cheiron.runtime.views import current, in_namespace
from cheiron.webhooks.common import decide

POD_WEBHOOK = "pod-pull-secrets"


def _backup_rewrite(body: kopf.Body) -> PodRewrite | None:
    """rewrite=Pods: the images of ClusterImageBackups (a cluster-wide operator only)."""
    idx = current()
    if idx.backups is None or idx.workloads is None or not idx.caches.synced:
        return None
    if not all(i.has_synced for i in idx.workloads.informers):
        return None  # the first backup's workloads are still being listed
    namespace = body.metadata.namespace or ""
    pod = PodFacts(
        namespace,
        pod_spec_images(body.get("spec") or {}),
        dict(body.metadata.labels or {}),
        dict(body.metadata.annotations or {}),
    )
    return admit_pod(
        idx.backups.all(),
        pod,
        namespace=idx.namespace_map().get(namespace),
        workloads=in_namespace(idx.workloads, namespace),
        secrets_present=idx.secrets_in(namespace),
        operator_namespace=runtime().operator_namespace,
    )


@kopf.on.mutate("", "v1", "pods", id=POD_WEBHOOK, operations=["CREATE"], side_effects=False)
async def inject_pull_secrets(*, body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    """Add the managed pull Secrets, and point images at verified backups, at Pod creation."""
    decision = await decide(body, pod=True)
    changes = pod_admission_patch(body.get("spec") or {}, decision, _backup_rewrite(body))
    if changes is not None:
        for key, value in changes["spec"].items():
            patch.spec[key] = value
        patch.metadata["annotations"] = changes["metadata"]["annotations"]
