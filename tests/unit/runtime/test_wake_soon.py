"""wake_soon: one wake-up per burst, after the burst pauses, at most `cap` after it began."""

import asyncio
from typing import Any

from cheiron.runtime.state import Runtime


class ClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock the test sets: timers are checked, never waited for."""

    now = 0.0

    def time(self) -> float:
        return self.now


def _runtime() -> Runtime:
    def no_ecr(_request: Any) -> Any:
        raise AssertionError("no AWS here")

    return Runtime(kube=None, fetch_ecr=no_ecr)  # type: ignore[arg-type]


def test_a_burst_wakes_once_after_it_pauses_or_at_its_cap() -> None:
    loop = ClockLoop()
    rt = _runtime()
    woken: list[float] = []
    rt.wakeups["m"] = asyncio.Event()
    rt.wake = lambda *keys: woken.append(loop.now)  # type: ignore[method-assign]

    async def burst() -> list[float]:
        due = []
        for at in (0.0, 0.8, 1.5, 4.5, 4.9):
            loop.now = at
            rt.wake_soon("m", interval=1.0, cap=5.0)
            due.append(rt._soon["m"][0].when())
        return due

    try:
        due = loop.run_until_complete(burst())
        # Each call pushes the wake-up to a quiet second later, never past 5 s after the first.
        assert due == [1.0, 1.8, 2.5, 5.0, 5.0]
        loop.now = 5.0
        loop.run_until_complete(asyncio.sleep(0))
        loop.run_until_complete(asyncio.sleep(0))
        assert woken == [5.0]
        assert "m" not in rt._soon
    finally:
        loop.close()
