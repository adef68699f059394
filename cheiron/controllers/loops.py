"""The per-object loops of the controllers: reconcile, then sleep until the delay or a wake-up."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from cheiron.runtime.state import runtime


class Stopped(Protocol):
    """Set when a loop must end: kopf's DaemonStopped, or an asyncio.Event."""

    def is_set(self) -> bool:
        """Whether the loop must end."""
        ...

    def wait(self) -> Awaitable[Any]:
        """Wait until it is set."""
        ...


async def wake_loop(key: str, stopped: Stopped, once: Callable[[], Awaitable[float]]) -> None:
    """Run `once` until stopped: again after the delay it returns, or at once when woken."""
    rt = runtime()
    wake = rt.wakeups[key] = asyncio.Event()
    try:
        while not stopped.is_set():
            wake.clear()
            delay = await once()
            if stopped.is_set():
                break
            waiter = asyncio.ensure_future(wake.wait())
            stopper = asyncio.ensure_future(stopped.wait())
            try:
                await asyncio.wait(
                    {waiter, stopper}, timeout=delay, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                waiter.cancel()
                stopper.cancel()
    finally:
        # A loop started anew for the key (a manager deleted and created again) keeps its own.
        if rt.wakeups.get(key) is wake:
            del rt.wakeups[key]
