"""Mutating admission for Pod CREATE: pull secrets of Pod-mode managers, and backed-up images.

Everything comes from the cache views (cheiron.runtime.views): no API call while a request waits.
"""

import json
from typing import Any

import kopf

from cheiron.api.meta import BACKUP_ORIGINALS
from cheiron.api.observed import pod_spec_images
from cheiron.images.rules import PodFacts, PodRewrite, admit_pod
from cheiron.runtime.state import runtime
from cheiron.runtime.views import current, in_namespace
from cheiron.webhooks.common import decide

POD_WEBHOOK = "pod-pull-secrets"


def _backup_rewrite(body: kopf.Body) -> PodRewrite | None:
    """rewrite=Pods: the images of ClusterImageBackups (a cluster-wide operator only)."""
    idx = current()
    if idx.backups is None or idx.workloads is None or not idx.caches.synced:
        return None
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
    spec = body.get("spec") or {}
    pull_secrets = [r.get("name", "") for r in spec.get("imagePullSecrets") or [] if r]
    annotations: dict[str, str] = {}
    decision = await decide(body, pod=True)
    if decision is not None:
        pull_secrets, annotations = list(decision[0]), dict(decision[1])
    rewrite = _backup_rewrite(body)
    if rewrite is not None:
        lists = {
            key: [dict(c) for c in spec.get(key) or []] for key in ("initContainers", "containers")
        }
        for change in rewrite.changes:
            lists[change.container.field][change.container.index]["image"] = change.image
        for key, containers in lists.items():
            if containers:
                patch.spec[key] = containers
        if rewrite.pull_secret not in pull_secrets:
            # The ServiceAccount's secrets were merged before this webhook runs, or the Pod
            # lists its own and so never gets them: either way, list the backup's here.
            pull_secrets.append(rewrite.pull_secret)
        annotations[BACKUP_ORIGINALS] = json.dumps(rewrite.originals, sort_keys=True)
    if decision is not None or rewrite is not None:
        patch.spec["imagePullSecrets"] = [{"name": name} for name in pull_secrets]
        patch.metadata["annotations"] = annotations
