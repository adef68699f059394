"""A work queue of keys: de-duplicated while queued, one worker per key, retries with backoff.

In the spirit of client-go's workqueue: an event adds the key of the work it affects, never
the object; the worker reads the current state from the caches when it gets to the key, so
ten events for one object while it waits cost one pass. A key that fails is retried later,
with a delay that grows per key, while other keys go on.
"""

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)


def retry_delay(failures: int, base: float = 0.2, cap: float = 60.0) -> float:
    """0.2 s, 0.4 s, 0.8 s … up to `cap`, with ±10 % jitter."""
    # The exponent stops growing long before it could overflow a float.
    delay = min(cap, base * 2 ** min(max(0, failures - 1), 64))
    return float(delay * random.uniform(0.9, 1.1))  # noqa: S311 - spreading retries, not security


class WorkQueue(Generic[K]):
    """Keys waiting for `process`, handled by at most `workers` tasks at once."""

    def __init__(
        self, process: Callable[[K], Awaitable[None]], *, workers: int = 8, name: str = "work"
    ) -> None:
        """Queue keys for `process`; start the workers with start()."""
        self.process = process
        self.workers = workers
        self.name = name
        self._queue: asyncio.Queue[K] = asyncio.Queue()
        self._queued: set[K] = set()
        self._active: set[K] = set()
        self._dirty: set[K] = set()
        self._failures: dict[K, int] = {}
        self._delayed: dict[K, asyncio.TimerHandle] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def __len__(self) -> int:
        """Keys waiting (not those being processed)."""
        return len(self._queued)

    def add(self, key: K) -> None:
        """Queue `key` unless it waits already; a key being processed runs once more after."""
        delayed = self._delayed.pop(key, None)
        if delayed is not None:
            delayed.cancel()
        if key in self._queued:
            return
        if key in self._active:
            self._dirty.add(key)
            return
        self._queued.add(key)
        self._queue.put_nowait(key)

    def add_after(self, key: K, delay: float) -> None:
        """Queue `key` in `delay` seconds (an earlier add, or add_after, wins)."""
        if key in self._queued or key in self._delayed:
            return
        loop = asyncio.get_running_loop()
        self._delayed[key] = loop.call_later(delay, self._fire, key)

    def _fire(self, key: K) -> None:
        self._delayed.pop(key, None)
        self.add(key)

    def start(self) -> None:
        """Start the workers on the running loop."""
        self._tasks = [
            asyncio.create_task(self._work(), name=f"{self.name}-{i}") for i in range(self.workers)
        ]

    async def stop(self) -> None:
        """Cancel the workers and pending delays."""
        for handle in self._delayed.values():
            handle.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            self._active.add(key)
            try:
                await self.process(key)
            except asyncio.CancelledError:
                raise
            except Exception:
                failures = self._failures.get(key, 0) + 1
                self._failures[key] = failures
                delay = retry_delay(failures)
                log.exception(
                    "%s: %s failed (%d times); retrying in %.1fs", self.name, key, failures, delay
                )
                self._active.discard(key)
                self._dirty.discard(key)
                self.add_after(key, delay)
                continue
            else:
                self._failures.pop(key, None)
            finally:
                self._queue.task_done()
            self._active.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self.add(key)
