"""Namespace and Secret handlers: wake the managers a change concerns, re-mark accounts."""

from typing import Any

import kopf

from cheiron.api.meta import OWNER_UID_LABEL
from cheiron.api.observed import DOCKERCONFIGJSON_TYPE, ManagerInfo, ManagerKind
from cheiron.controllers.accounts import sync_namespace
from cheiron.controllers.indexes import Indexes
from cheiron.controllers.runtime import runtime


def _references(manager: ManagerInfo, namespace: str, name: str) -> bool:
    for entry in manager.spec.secrets:
        ecr_ref = entry.ecr.credentials_secret_ref if entry.ecr is not None else None
        for ref in (entry.existing_secret_ref, entry.credentials_secret_ref, ecr_ref):
            if ref is None or ref.name != name:
                continue
            if (getattr(ref, "namespace", None) or manager.namespace) == namespace:
                return True
    return False


@kopf.on.event("", "v1", "namespaces")
async def namespace_event(*, body: kopf.Body, **kwargs: Any) -> None:
    """A namespace appeared, changed (opt-out, labels) or went: the managers re-target."""
    idx = Indexes(kwargs)
    name = body.metadata.name or ""
    runtime().wake(
        *(m.key for m in idx.managers() if m.kind is ManagerKind.CLUSTER or m.namespace == name)
    )
    await sync_namespace(name, idx)


@kopf.on.event("", "v1", "secrets")
async def secret_event(*, event: kopf.RawEvent, body: kopf.Body, **kwargs: Any) -> None:
    """A referenced Secret changed, or a pull Secret came or went: react at once."""
    idx = Indexes(kwargs)
    meta = body.metadata
    namespace, name = meta.namespace or "", meta.name or ""
    all_managers = idx.managers()
    owner = (meta.labels or {}).get(OWNER_UID_LABEL)
    wake = [m.key for m in all_managers if _references(m, namespace, name)]
    if owner and event["type"] == "DELETED":
        # Someone deleted a Secret cheiron manages: put it back.
        wake += [m.key for m in all_managers if m.uid == owner]
    runtime().wake(*wake)
    if body.get("type") == DOCKERCONFIGJSON_TYPE and event["type"] in ("ADDED", "DELETED"):
        await sync_namespace(namespace, idx)
