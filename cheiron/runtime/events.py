"""Events that scale: changes to many objects of a namespace become one counted Event.

Like the event recorder's aggregation in client-go, but keyed by namespace and reason: when
a manager reaches 5,000 ServiceAccounts, each namespace gets one Event naming what changed
and how many objects, instead of one Event per ServiceAccount.
"""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from cheiron.runtime.tasks import spawn

log = logging.getLogger(__name__)

# What the recorder posts: (namespace, type, reason, message, count).
Post = Callable[[str, str, str, str, int], None]


@dataclass
class _Pending:
    type: str
    kind: str
    detail: str
    first: float = 0.0
    last: float = 0.0
    # Insertion-ordered set: 5,000 accounts of one namespace in a window stay cheap.
    names: dict[str, None] = field(default_factory=dict)


def summary(kind: str, detail: str, names: list[str], shown: int = 10) -> str:
    """`5 ServiceAccounts (app, default and 3 more): added imagePullSecrets a`."""
    plural = kind if len(names) == 1 else f"{kind}s"
    listed = ", ".join(names[:shown])
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return f"{len(names)} {plural} ({listed}{more}): {detail}"


class EventAggregator:
    """Collects changes per (namespace, reason, detail); posts one Event once they settle.

    A key is posted when no change joined it for `window` seconds, or `longest` seconds after
    its first change: a namespace whose accounts are marked and then appended over a few
    seconds gets one Event, and a steady trickle still shows within `longest`.
    """

    def __init__(self, post: Post, window: float = 1.0, longest: float = 10.0) -> None:
        """Post through `post` (called in a thread)."""
        self.post = post
        self.window = window
        self.longest = longest
        self._pending: dict[tuple[str, str, str], _Pending] = {}
        self._flush: asyncio.TimerHandle | None = None

    def record(
        self, namespace: str, *, type_: str, reason: str, kind: str, name: str, detail: str
    ) -> None:
        """Note that `kind` `name` in `namespace` changed as `detail` says."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        pending = self._pending.get((namespace, reason, detail))
        if pending is None:
            pending = self._pending[(namespace, reason, detail)] = _Pending(
                type_, kind, detail, first=now
            )
        pending.names[name] = None
        pending.last = now
        if self._flush is None:
            self._flush = loop.call_later(self.window, self._schedule)

    def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        due = {
            key: p
            for key, p in self._pending.items()
            if now - p.last >= self.window * 0.999 or now - p.first >= self.longest
        }
        for key in due:
            del self._pending[key]
        self._flush = None
        if self._pending:
            wake = min(
                min(p.last + self.window, p.first + self.longest) for p in self._pending.values()
            )
            self._flush = loop.call_later(max(0.0, wake - now), self._schedule)
        if due:
            spawn(self._post_all(due))

    async def _post_all(self, batch: dict[tuple[str, str, str], _Pending]) -> None:
        for (namespace, reason, _detail), pending in batch.items():
            message = summary(pending.kind, pending.detail, sorted(pending.names))
            try:
                await asyncio.to_thread(
                    self.post, namespace, pending.type, reason, message, len(pending.names)
                )
            except Exception:  # a lost Event must never fail work
                log.warning("could not post %s in %s", reason, namespace, exc_info=True)
