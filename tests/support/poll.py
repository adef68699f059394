"""Polls for an expected state with a deadline, instead of sleeping a fixed time."""

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0


def eventually(
    probe: Callable[[], T | None],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = 0.1,
    what: str = "condition",
) -> T:
    """Call `probe` until it returns something truthy and return that, or fail at the deadline.

    Exceptions raised by the probe count as "not yet"; the last one is reported on timeout.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    last_value: object = None
    while True:
        try:
            value = probe()
            if value:
                return value
            last_value = value
        except Exception as e:  # noqa: BLE001 - any failure means "not yet"
            last_error = e
        if time.monotonic() > deadline:
            detail = f"last error: {last_error!r}" if last_error else f"last value: {last_value!r}"
            raise AssertionError(f"{what} not reached within {timeout:.0f}s ({detail})")
        time.sleep(interval)


def gone(read: Callable[[], object]) -> Callable[[], bool]:
    """A probe that is true once `read` answers 404 (for `eventually`)."""
    from kubernetes.client.rest import ApiException  # noqa: PLC0415 - only tests that poll need it

    def probe() -> bool:
        try:
            read()
        except ApiException as e:
            if e.status == 404:
                return True
            raise
        return False

    return probe


async def until(
    condition: Callable[[], bool], *, timeout: float = 2.0, what: str = "condition"
) -> None:
    """The same for code on an event loop: await `condition` (polled every ms) with a deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"{what} not reached within {timeout:.1f}s")
        await asyncio.sleep(0.001)
