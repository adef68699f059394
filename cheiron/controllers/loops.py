"""The per-object loops of kopf daemons: reconcile, then sleep until the delay or a wake-up."""

import asyncio
from collections.abc import Awaitable, Callable

import kopf

from cheiron.runtime.state import runtime


async def wake_loop(
    key: str, stopped: kopf.DaemonStopped, once: Callable[[], Awaitable[float]]
) -> None:
    """Run `once` until stopped: again after the delay it returns, or at once when woken."""
    rt = runtime()
    wake = rt.wakeups.setdefault(key, asyncio.Event())
    try:
        while not stopped:
            wake.clear()
            delay = await once()
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
        rt.wakeups.pop(key, None)
