"""Wiring of the informers to the work: which keys and manager loops each change wakes.

Every informer handler is cheap and synchronous: it reads the change, wakes the manager
loops it concerns and queues keys; the workers do the writes. Keys are
`("namespace", ns)` (every account and Pod of it), `("account", ns, name)`, `("pod", ns,
name)` and `("manager", manager key, ns)` (one manager's Secrets in one namespace).
"""

import asyncio
from collections.abc import Callable, Hashable

from cheiron.api.observed import (
    DOCKERCONFIGJSON_TYPE,
    ManagerInfo,
    ManagerObject,
    NamespaceInfo,
    SecretInfo,
)
from cheiron.controllers import lifecycles
from cheiron.controllers.accounts import account_changed, process_account, sync_namespace
from cheiron.controllers.managers import cleanup, forget, reconcile_namespace, run_loop
from cheiron.k8s.informer import ADDED, DELETED, LISTED, Key
from cheiron.runtime.state import runtime
from cheiron.runtime.views import Views

NamespaceHandler = Callable[[str, Key, NamespaceInfo | None, NamespaceInfo | None], None]
SecretHandler = Callable[[str, Key, SecretInfo | None, SecretInfo | None], None]


def _references(manager: ManagerInfo, namespace: str, name: str) -> bool:
    for entry in manager.spec.secrets:
        ecr_ref = entry.ecr.credentials_secret_ref if entry.ecr is not None else None
        for ref in (entry.existing_secret_ref, entry.credentials_secret_ref, ecr_ref):
            if ref is None or ref.name != name:
                continue
            if (getattr(ref, "namespace", None) or manager.namespace) == namespace:
                return True
    return False


def namespace_changed(idx: Views) -> NamespaceHandler:
    """A namespace appeared, changed (opt-out, labels) or went: the managers re-target."""

    def handler(kind: str, key: Key, old: NamespaceInfo | None, new: NamespaceInfo | None) -> None:
        if kind != DELETED and old == new:
            return  # nothing targeting reads changed
        name = key[1]
        rt = runtime()
        if kind == LISTED:
            # The first list: every manager's first pass covers its targets; this key
            # covers the namespace's objects (theirs are not queued one by one).
            rt.enqueue(("namespace", name))
            return
        concerned = [m.key for m in idx.managers_in(name)]
        # Each manager's work in this namespace alone: a new namespace costs the same among
        # ten or ten thousand.
        rt.enqueue(*(("manager", m, name) for m in concerned))
        rt.enqueue(("namespace", name))

    return handler


def secret_changed(idx: Views) -> SecretHandler:
    """A referenced Secret changed, or a pull Secret came or went: react at once."""

    def handler(kind: str, key: Key, old: SecretInfo | None, new: SecretInfo | None) -> None:
        if kind == LISTED:
            return  # the first list: the managers' first passes read these anyway
        namespace, name = key
        all_managers = idx.managers_in(namespace)
        wake = [m.key for m in all_managers if _references(m, namespace, name)]
        runtime().inputs_changed.update(wake)
        seen = old or new
        owner = seen.owner_uid if seen is not None else None
        if owner and kind == DELETED:
            # Someone deleted a Secret cheiron manages: put it back.
            wake += [m.key for m in all_managers if m.uid == owner]
        runtime().wake(*wake)
        pull = any(s is not None and s.type == DOCKERCONFIGJSON_TYPE for s in (old, new))
        if pull and (kind in (ADDED, DELETED) or (old is not None) != (new is not None)):
            runtime().enqueue(("namespace", namespace))

    return handler


async def process(key: Hashable, idx: Views) -> None:
    """Do the work of one queued key."""
    assert isinstance(key, tuple)  # noqa: S101 - only this module makes keys
    await idx.caches.wait_current()  # no decision from snapshots missing a selector's keys
    match key:
        case ("namespace", str(namespace)):
            await sync_namespace(namespace, idx)
        case ("account" | "pod" as what, str(namespace), str(name)):
            await process_account(namespace, name, what == "pod", idx)
        case ("manager", str(manager), str(namespace)):
            await reconcile_namespace(manager, namespace, idx)
        case _:
            raise ValueError(f"unknown work key {key!r}")


def register(idx: Views) -> list[lifecycles.Lifecycles]:
    """Connect the informers of the bulk kinds to the work queue, the managers' to their loops."""
    caches = idx.caches
    caches.namespaces.add_handler(namespace_changed(idx))
    caches.secrets.add_handler(secret_changed(idx))
    caches.accounts.add_handler(account_changed(False, idx))
    caches.pods.add_handler(account_changed(True, idx))

    async def loop(
        obj: ManagerObject, current: Callable[[], ManagerObject | None], stop: asyncio.Event
    ) -> None:
        await run_loop(obj, current, stop, idx)

    async def clean(obj: ManagerObject) -> None:
        await cleanup(obj, idx)

    return lifecycles.register(idx, loop, clean, forget)
