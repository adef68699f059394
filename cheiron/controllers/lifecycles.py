"""Each manager's lifecycle, driven by the manager informer: finalizer, reconcile loop, cleanup.

What kopf's daemons and on.delete handlers did for managers, without its per-object
machinery (a worker, a diff and progress bookkeeping per event, measured as most of the
operator's time with 500 managers). A manager first gets cheiron's finalizer; once the
cache shows it, its loop starts. A new spec or a deletion wakes the loop. When the manager
is marked for deletion its loop stops, the cleanup runs (again with backoff until it
succeeds) and only then is the finalizer removed. Finalizer patches carry the
resourceVersion they were decided from, so another controller's finalizer is never lost.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from cheiron.api.meta import FINALIZER, LEGACY_SPEC_COPY
from cheiron.api.observed import PLURALS, ManagerKind, ManagerObject
from cheiron.k8s.informer import DELETED, Key
from cheiron.pullsecrets.renewal import backoff
from cheiron.runtime.caches import ManagerView
from cheiron.runtime.state import runtime
from cheiron.runtime.tasks import spawn
from cheiron.runtime.views import Views

log = logging.getLogger(__name__)

# How long a stopped loop may finish its pass before it is cancelled (kopf's
# cancellation_timeout before).
STOP_GRACE = 10.0
# A finalizer patch that met a newer object waits this long for the cache to show it.
CONFLICT_PAUSE = 0.2

Loop = Callable[
    [ManagerObject, Callable[[], ManagerObject | None], asyncio.Event], Coroutine[Any, Any, None]
]
Cleanup = Callable[[ManagerObject], Awaitable[None]]
Forget = Callable[[ManagerObject], None]


class Lifecycles:
    """The loops and finalizers of one manager kind."""

    def __init__(
        self, kind: ManagerKind, view: ManagerView, loop: Loop, cleanup: Cleanup, forget: Forget
    ) -> None:
        """Run `loop` per live manager, `cleanup` before releasing one, `forget` once gone."""
        self.kind = kind
        self.view = view
        self.loop = loop
        self.cleanup = cleanup
        self.forget = forget
        self._loops: dict[Key, tuple[asyncio.Task[None], asyncio.Event]] = {}
        self._settling: dict[Key, asyncio.Task[None]] = {}
        # Loops asked to stop and not yet ended: a cleanup waits for them.
        self._ending: dict[Key, asyncio.Task[None]] = {}

    def changed(
        self, event: str, key: Key, old: ManagerObject | None, new: ManagerObject | None
    ) -> None:
        """An informer handler: act on what the change means for the manager's lifecycle."""
        if event == DELETED or new is None:
            self._stop(key)
            if old is not None:
                # Gone, with or without our cleanup (a finalizer removed by hand).
                self.forget(old)
            return
        if old is None or (old.generation, old.deleting) != (new.generation, new.deleting):
            # Only a new spec or a deletion: the loop's own status writes would otherwise
            # wake it once more after every pass.
            runtime().wake(new.key)
        has_finalizer = FINALIZER in new.finalizers
        if new.deleting:
            self._stop(key)
            if has_finalizer:
                self._settle_metadata(key)
            return
        if not has_finalizer or new.legacy_copy:
            self._settle_metadata(key)
        if has_finalizer and key not in self._loops:
            stop = asyncio.Event()
            task = spawn(self.loop(new, lambda: self._current(key), stop))
            self._loops[key] = (task, stop)

    def _current(self, key: Key) -> ManagerObject | None:
        return self.view.get_object(*key)

    def _stop(self, key: Key) -> None:
        """Ask the loop to end; cancel it if it has not within the grace period."""
        found = self._loops.pop(key, None)
        if found is None:
            return
        task, stop = found
        stop.set()

        async def end() -> None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(task), STOP_GRACE)
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if self._ending.get(key) is ending:
                del self._ending[key]

        ending = self._ending[key] = spawn(end())

    def _settle_metadata(self, key: Key) -> None:
        running = self._settling.get(key)
        if running is not None and not running.done():
            return
        task = spawn(self._metadata(key))
        self._settling[key] = task
        task.add_done_callback(lambda t: self._forget_settling(key, t))

    def _forget_settling(self, key: Key, task: "asyncio.Task[None]") -> None:
        if self._settling.get(key) is task:
            del self._settling[key]

    async def _metadata(self, key: Key) -> None:
        """Add the finalizer to a live manager; clean up a deleted one, then remove it.

        A live manager also loses the spec copy an earlier version left in its annotations.
        """
        kube = runtime().kube
        cleaned_uid: str | None = None
        failures = 0
        while (obj := self._current(key)) is not None:
            if obj.deleting:
                if FINALIZER not in obj.finalizers:
                    return
                if (ending := self._ending.get(key)) is not None:
                    await ending  # no pass may write after the cleanup
                if cleaned_uid != obj.uid:
                    try:
                        await self.cleanup(obj)
                    except Exception:
                        failures += 1
                        delay = backoff(failures)
                        log.exception("cleanup of %s failed; again in %.0f s", obj.key, delay)
                        await asyncio.sleep(delay)
                        continue
                    cleaned_uid = obj.uid
                wanted = [f for f in obj.finalizers if f != FINALIZER]
            elif FINALIZER in obj.finalizers and not obj.legacy_copy:
                return
            else:
                wanted = list(obj.finalizers)
                if FINALIZER not in wanted:
                    wanted.append(FINALIZER)
            drop = (LEGACY_SPEC_COPY,) if obj.legacy_copy and not obj.deleting else ()
            namespace = obj.namespace if self.kind is ManagerKind.NAMESPACED else None
            done = await asyncio.to_thread(
                kube.patch_manager_metadata,
                PLURALS[self.kind],
                namespace,
                obj.name,
                obj.resource_version,
                finalizers=wanted,
                drop_annotations=drop,
            )
            if done:
                return
            # Changed meanwhile: decide again from the newer object once the cache has it.
            await asyncio.sleep(CONFLICT_PAUSE)


def register(idx: Views, loop: Loop, cleanup: Cleanup, forget: Forget) -> list[Lifecycles]:
    """Drive the managers of every kind this operator watches."""
    made = []
    for kind, view in ((ManagerKind.NAMESPACED, idx.ipsm), (ManagerKind.CLUSTER, idx.cipsm)):
        if view is None:
            continue
        lifecycles = Lifecycles(kind, view, loop, cleanup, forget)
        view.add_handler(lifecycles.changed)
        made.append(lifecycles)
    return made
