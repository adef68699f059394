"""The work queue: de-duplication, one pass per key at a time, bounded workers, retries."""

import asyncio
import random

import pytest

from cheiron.runtime import workqueue
from cheiron.runtime.workqueue import WorkQueue, retry_delay
from tests.support.poll import until

TINY = 0.005


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Retry after a tiny delay; return the failure counts the queue asked a delay for."""
    asked: list[int] = []

    def delay(failures: int) -> float:
        asked.append(failures)
        return TINY

    monkeypatch.setattr(workqueue, "retry_delay", delay)
    return asked


def test_key_added_several_times_while_queued_is_processed_once() -> None:
    processed: list[str] = []

    async def process(key: str) -> None:
        processed.append(key)

    async def main() -> None:
        queue: WorkQueue[str] = WorkQueue(process, workers=2)
        for key in ("a", "a", "b", "a", "b"):
            queue.add(key)
        assert len(queue) == 2
        queue.start()
        await until(lambda: len(processed) >= 2)
        await asyncio.sleep(0.02)
        await queue.stop()
        assert sorted(processed) == ["a", "b"]
        assert len(queue) == 0

    asyncio.run(main())


def test_key_added_while_processing_runs_exactly_once_more_and_never_concurrently() -> None:
    calls = 0
    running = 0
    max_running = 0
    release = asyncio.Event()

    async def process(key: str) -> None:
        nonlocal calls, running, max_running
        calls += 1
        running += 1
        max_running = max(max_running, running)
        try:
            if calls == 1:
                await release.wait()
            else:
                await asyncio.sleep(0.01)
        finally:
            running -= 1

    async def main() -> None:
        queue: WorkQueue[str] = WorkQueue(process, workers=4)
        queue.start()
        queue.add("a")
        await until(lambda: calls == 1)
        for _ in range(3):
            queue.add("a")
        await asyncio.sleep(0.02)
        assert calls == 1, "a key being processed was started again concurrently"
        release.set()
        await until(lambda: calls == 2)
        await asyncio.sleep(0.03)
        await queue.stop()
        assert calls == 2
        assert max_running == 1

    asyncio.run(main())


def test_at_most_workers_keys_are_processed_at_once() -> None:
    running = 0
    max_running = 0
    done: list[int] = []
    gate = asyncio.Event()

    async def process(key: int) -> None:
        nonlocal running, max_running
        running += 1
        max_running = max(max_running, running)
        try:
            await gate.wait()
        finally:
            running -= 1
        done.append(key)

    async def main() -> None:
        queue: WorkQueue[int] = WorkQueue(process, workers=3)
        queue.start()
        for key in range(10):
            queue.add(key)
        await until(lambda: running == 3)
        await asyncio.sleep(0.02)
        assert running == 3
        assert len(queue) == 7
        gate.set()
        await until(lambda: len(done) == 10)
        await queue.stop()
        assert max_running == 3
        assert sorted(done) == list(range(10))

    asyncio.run(main())


def test_failing_key_is_retried_with_growing_failure_count_until_it_succeeds(
    fast_retries: list[int],
) -> None:
    attempts = 0
    fail_on = {1, 2, 4}  # fails twice, succeeds, then (re-added) fails once more and succeeds
    succeeded = 0

    async def process(key: str) -> None:
        nonlocal attempts, succeeded
        attempts += 1
        if attempts in fail_on:
            raise RuntimeError(f"attempt {attempts} of {key} fails")
        succeeded += 1

    async def main() -> None:
        queue: WorkQueue[str] = WorkQueue(process, workers=2)
        queue.start()
        queue.add("a")
        await until(lambda: succeeded == 1)
        assert attempts == 3
        assert fast_retries == [1, 2]
        # A success forgets the failures: the next failure counts from one again.
        queue.add("a")
        await until(lambda: succeeded == 2)
        await asyncio.sleep(0.02)
        await queue.stop()
        assert attempts == 5
        assert fast_retries == [1, 2, 1]

    asyncio.run(main())


def test_failures_of_one_key_do_not_block_other_keys(fast_retries: list[int]) -> None:
    processed: list[str] = []
    bad_attempts = 0

    async def process(key: str) -> None:
        nonlocal bad_attempts
        if key == "bad":
            bad_attempts += 1
            raise RuntimeError("always fails")
        processed.append(key)

    async def main() -> None:
        queue: WorkQueue[str] = WorkQueue(process, workers=1)
        queue.start()
        queue.add("bad")
        await until(lambda: bad_attempts >= 1)
        queue.add("good-1")
        queue.add("good-2")
        await until(lambda: len(processed) == 2)
        await until(lambda: bad_attempts >= 3)  # and the bad key keeps being retried
        await queue.stop()
        assert processed == ["good-1", "good-2"]
        assert fast_retries[:3] == [1, 2, 3]

    asyncio.run(main())


def test_add_after_fires_later() -> None:
    processed: list[tuple[str, float]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()

        async def process(key: str) -> None:
            processed.append((key, loop.time()))

        queue: WorkQueue[str] = WorkQueue(process, workers=1)
        queue.start()
        start = loop.time()
        queue.add_after("a", 0.05)
        assert len(queue) == 0
        await asyncio.sleep(0.01)
        assert processed == []
        await until(lambda: bool(processed))
        await queue.stop()
        [(key, when)] = processed
        assert key == "a"
        assert when - start >= 0.045

    asyncio.run(main())


def test_earlier_add_after_wins_over_a_later_one() -> None:
    processed: list[str] = []

    async def process(key: str) -> None:
        processed.append(key)

    async def main() -> None:
        queue: WorkQueue[str] = WorkQueue(process, workers=1)
        queue.start()
        queue.add_after("a", 0.01)
        queue.add_after("a", 30)
        await until(lambda: processed == ["a"], timeout=1.0)
        await queue.stop()

    asyncio.run(main())


def test_add_before_add_after_fires_cancels_the_delayed_one() -> None:
    processed: list[str] = []

    async def process(key: str) -> None:
        processed.append(key)

    async def main() -> None:
        queue: WorkQueue[str] = WorkQueue(process, workers=2)
        queue.start()
        queue.add_after("a", 0.03)
        queue.add("a")
        await until(lambda: processed == ["a"])
        await asyncio.sleep(0.08)  # well past the delay
        await queue.stop()
        assert processed == ["a"]

    asyncio.run(main())


def test_stop_cancels_workers_and_pending_delays() -> None:
    started = asyncio.Event()
    cancelled: list[str] = []

    async def process(key: str) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(key)
            raise

    async def main() -> None:
        queue: WorkQueue[str] = WorkQueue(process, workers=2)
        queue.start()
        queue.add("a")
        await asyncio.wait_for(started.wait(), 1.0)
        queue.add_after("b", 0.02)
        await asyncio.wait_for(queue.stop(), 1.0)
        assert cancelled == ["a"]
        assert all(task.done() for task in queue._tasks)
        await asyncio.sleep(0.05)
        assert len(queue) == 0, "a delayed add fired after stop()"

    asyncio.run(main())


def test_retry_delay_doubles_from_base_and_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "uniform", lambda low, high: 1.0)
    assert retry_delay(0) == pytest.approx(0.2)
    assert [retry_delay(n) for n in range(1, 6)] == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2])
    assert retry_delay(9) == pytest.approx(51.2)
    assert retry_delay(10) == pytest.approx(60.0)
    assert retry_delay(500) == pytest.approx(60.0)
    assert retry_delay(3, base=1.0, cap=3.0) == pytest.approx(3.0)
    assert retry_delay(2, base=1.0, cap=3.0) == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("failures", "nominal"), [(1, 0.2), (2, 0.4), (3, 0.8), (8, 25.6), (10, 60.0), (200, 60.0)]
)
def test_retry_delay_jitter_stays_within_ten_percent(failures: int, nominal: float) -> None:
    samples = [retry_delay(failures) for _ in range(200)]
    assert all(nominal * 0.9 <= s <= nominal * 1.1 for s in samples)
    assert len(set(samples)) > 1, "no jitter"


# The exponent once grew unbounded: from 1,025 failures (17 h at the cap) the power no
# longer converted to a float, the worker died and its key was never processed again.
@pytest.mark.parametrize("failures", [1025, 5000])
def test_retry_delay_stays_capped_after_very_many_failures(failures: int) -> None:
    assert 54.0 <= retry_delay(failures) <= 66.0


def test_worker_survives_a_key_that_has_failed_very_often() -> None:
    processed: list[str] = []

    async def process(key: str) -> None:
        if key == "bad":
            raise RuntimeError("still failing")
        processed.append(key)

    async def main() -> None:
        queue: WorkQueue[str] = WorkQueue(process, workers=1)
        # ~17 hours of failures at the 60 s cap, without waiting for them.
        queue._failures["bad"] = 1024
        queue.start()
        queue.add("bad")
        queue.add("good")
        try:
            await until(lambda: processed == ["good"], timeout=0.3)
        finally:
            await queue.stop()

    asyncio.run(main())
