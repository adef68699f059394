"""Aggregated Events: one counted post per (namespace, reason, detail) and window."""

import asyncio
import threading
from collections.abc import Callable

from cheiron.runtime.events import EventAggregator, summary
from tests.support.poll import until

WINDOW = 0.02
DETAIL = "added imagePullSecrets regcred"

Call = tuple[str, str, str, str, int]


class Recorder:
    """A thread-safe `post` that records its calls and can fail on chosen namespaces."""

    def __init__(self, fail: Callable[[str, int], bool] = lambda namespace, n: False) -> None:
        """Fail a call when `fail(namespace, index of the call)` says so."""
        self.fail = fail
        self._lock = threading.Lock()
        self.attempts: list[Call] = []
        self.posted: list[Call] = []

    def __call__(self, namespace: str, type_: str, reason: str, message: str, count: int) -> None:
        """Record the call; raise if it should fail."""
        call = (namespace, type_, reason, message, count)
        with self._lock:
            index = len(self.attempts)
            self.attempts.append(call)
            if self.fail(namespace, index):
                raise RuntimeError("the API server said no")
            self.posted.append(call)

    def snapshot(self) -> list[Call]:
        """The successful posts so far."""
        with self._lock:
            return list(self.posted)


def record(
    aggregator: EventAggregator,
    namespace: str,
    name: str,
    *,
    detail: str = DETAIL,
    reason: str = "SecretsUpdated",
) -> None:
    aggregator.record(
        namespace, type_="Normal", reason=reason, kind="ServiceAccount", name=name, detail=detail
    )


def test_records_in_one_window_become_one_counted_post_with_sorted_names() -> None:
    post = Recorder()

    async def main() -> None:
        aggregator = EventAggregator(post, window=WINDOW)
        for name in ("web", "api", "db"):
            record(aggregator, "team-a", name)
        await until(lambda: len(post.snapshot()) >= 1)
        await asyncio.sleep(3 * WINDOW)

    asyncio.run(main())
    assert post.snapshot() == [
        (
            "team-a",
            "Normal",
            "SecretsUpdated",
            f"3 ServiceAccounts (api, db, web): {DETAIL}",
            3,
        )
    ]


def test_nothing_is_posted_before_the_window_ends() -> None:
    post = Recorder()

    async def main() -> None:
        aggregator = EventAggregator(post, window=0.2)
        record(aggregator, "team-a", "web")
        await asyncio.sleep(0.02)
        assert post.snapshot() == []
        record(aggregator, "team-a", "api")  # joins the same, still open window
        await until(lambda: len(post.snapshot()) >= 1)
        await asyncio.sleep(0.05)

    asyncio.run(main())
    [(_, _, _, message, count)] = post.snapshot()
    assert (message, count) == (f"2 ServiceAccounts (api, web): {DETAIL}", 2)


def test_same_name_twice_counts_once() -> None:
    post = Recorder()

    async def main() -> None:
        aggregator = EventAggregator(post, window=WINDOW)
        for name in ("web", "api", "web", "web"):
            record(aggregator, "team-a", name)
        await until(lambda: len(post.snapshot()) >= 1)
        await asyncio.sleep(3 * WINDOW)

    asyncio.run(main())
    [(_, _, _, message, count)] = post.snapshot()
    assert count == 2
    assert message == f"2 ServiceAccounts (api, web): {DETAIL}"


def test_different_namespaces_details_and_reasons_are_posted_separately() -> None:
    post = Recorder()

    async def main() -> None:
        aggregator = EventAggregator(post, window=WINDOW)
        record(aggregator, "team-a", "web")
        record(aggregator, "team-b", "web")
        record(aggregator, "team-a", "api")
        record(aggregator, "team-a", "db", detail="removed imagePullSecrets old")
        record(aggregator, "team-a", "job", reason="SecretsFailed")
        await until(lambda: len(post.snapshot()) >= 4)
        await asyncio.sleep(3 * WINDOW)

    asyncio.run(main())
    assert sorted(post.snapshot()) == sorted(
        [
            (
                "team-a",
                "Normal",
                "SecretsFailed",
                f"1 ServiceAccount (job): {DETAIL}",
                1,
            ),
            (
                "team-a",
                "Normal",
                "SecretsUpdated",
                f"2 ServiceAccounts (api, web): {DETAIL}",
                2,
            ),
            (
                "team-a",
                "Normal",
                "SecretsUpdated",
                "1 ServiceAccount (db): removed imagePullSecrets old",
                1,
            ),
            ("team-b", "Normal", "SecretsUpdated", f"1 ServiceAccount (web): {DETAIL}", 1),
        ]
    )


def test_each_window_posts_only_its_own_names() -> None:
    post = Recorder()

    async def main() -> None:
        aggregator = EventAggregator(post, window=WINDOW)
        record(aggregator, "team-a", "web")
        await until(lambda: len(post.snapshot()) == 1)
        record(aggregator, "team-a", "api")
        await until(lambda: len(post.snapshot()) == 2)
        await asyncio.sleep(3 * WINDOW)

    asyncio.run(main())
    assert [(message, count) for *_, message, count in post.snapshot()] == [
        (f"1 ServiceAccount (web): {DETAIL}", 1),
        (f"1 ServiceAccount (api): {DETAIL}", 1),
    ]


def test_changes_that_keep_coming_stay_one_post_until_they_settle() -> None:
    post = Recorder()

    async def main() -> None:
        aggregator = EventAggregator(post, window=5 * WINDOW, longest=100 * WINDOW)
        # A namespace marked, then appended: changes spread over more than one window.
        for i in range(6):
            record(aggregator, "team-a", f"sa-{i}")
            await asyncio.sleep(3 * WINDOW)
        assert post.snapshot() == [], "posted while changes still came"
        await until(lambda: len(post.snapshot()) == 1)
        await asyncio.sleep(10 * WINDOW)

    asyncio.run(main())
    assert [count for *_, count in post.snapshot()] == [6]


def test_a_steady_trickle_still_posts_after_the_longest_wait() -> None:
    post = Recorder()

    async def main() -> None:
        aggregator = EventAggregator(post, window=5 * WINDOW, longest=10 * WINDOW)
        for i in range(12):
            record(aggregator, "team-a", f"sa-{i}")
            await asyncio.sleep(2 * WINDOW)
        await until(lambda: sum(count for *_, count in post.snapshot()) == 12)

    asyncio.run(main())
    counts = [count for *_, count in post.snapshot()]
    assert len(counts) >= 2, "the first changes waited for the trickle to end"


def test_a_failing_post_does_not_break_later_windows() -> None:
    post = Recorder(fail=lambda namespace, index: index == 0)

    async def main() -> None:
        aggregator = EventAggregator(post, window=WINDOW)
        record(aggregator, "team-a", "web")
        await until(lambda: len(post.attempts) == 1)
        await asyncio.sleep(WINDOW)
        record(aggregator, "team-a", "api")
        await until(lambda: len(post.snapshot()) == 1)

    asyncio.run(main())
    [(_, _, _, message, count)] = post.snapshot()
    assert (message, count) == (f"1 ServiceAccount (api): {DETAIL}", 1)


def test_a_failing_post_does_not_stop_the_rest_of_its_batch() -> None:
    post = Recorder(fail=lambda namespace, index: namespace == "bad")

    async def main() -> None:
        aggregator = EventAggregator(post, window=WINDOW)
        record(aggregator, "bad", "web")
        record(aggregator, "good", "web")
        await until(lambda: len(post.attempts) == 2)

    asyncio.run(main())
    assert [namespace for namespace, *_ in post.snapshot()] == ["good"]


def test_summary_singular_and_plural() -> None:
    assert summary("ServiceAccount", "d", ["web"]) == "1 ServiceAccount (web): d"
    assert summary("ServiceAccount", "d", ["api", "web"]) == "2 ServiceAccounts (api, web): d"


def test_summary_shows_at_most_ten_names_then_how_many_more() -> None:
    names = [f"sa-{i:02d}" for i in range(12)]
    listed = ", ".join(names[:10])
    assert summary("ServiceAccount", "d", names) == f"12 ServiceAccounts ({listed} and 2 more): d"
    ten = names[:10]
    assert summary("ServiceAccount", "d", ten) == f"10 ServiceAccounts ({listed}): d"
    assert summary("Pod", "d", names[:3], shown=2) == "3 Pods (sa-00, sa-01 and 1 more): d"
