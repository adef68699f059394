"""Events that scale: changes to many objects of a namespace become one counted Event.

Like the event recorder's aggregation in client-go, but keyed by namespace and reason: when
a manager reaches 5,000 ServiceAccounts, each namespace gets one Event naming what changed
and how many objects, instead of one Event per ServiceAccount.
"""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

# What the recorder posts: (namespace, type, reason, message, count).
Post = Callable[[str, str, str, str, int], None]


@dataclass
class _Pending:
    type: str
    kind: str
    detail: str
    # Insertion-ordered set: 5,000 accounts of one namespace in a window stay cheap.
    names: dict[str, None] = field(default_factory=dict)


def summary(kind: str, detail: str, names: list[str], shown: int = 10) -> str:
    """`5 ServiceAccounts (app, default and 3 more): added imagePullSecrets a`."""
    plural = kind if len(names) == 1 else f"{kind}s"
    listed = ", ".join(names[:shown])
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return f"{len(names)} {plural} ({listed}{more}): {detail}"


class EventAggregator:
    """Collects changes per (namespace, reason, detail) and posts one Event per window."""

    def __init__(self, post: Post, window: float = 1.0) -> None:
        """Post through `post` (called in a thread) at most once per key and window."""
        self.post = post
        self.window = window
        self._pending: dict[tuple[str, str, str], _Pending] = {}
        self._flush: asyncio.TimerHandle | None = None

    def record(
        self, namespace: str, *, type_: str, reason: str, kind: str, name: str, detail: str
    ) -> None:
        """Note that `kind` `name` in `namespace` changed as `detail` says."""
        pending = self._pending.setdefault(
            (namespace, reason, detail), _Pending(type_, kind, detail)
        )
        pending.names[name] = None
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(self.window, self._schedule)

    def _schedule(self) -> None:
        self._flush = None
        batch, self._pending = self._pending, {}
        task = asyncio.get_running_loop().create_task(self._post_all(batch))
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)

    async def _post_all(self, batch: dict[tuple[str, str, str], _Pending]) -> None:
        for (namespace, reason, _detail), pending in batch.items():
            message = summary(pending.kind, pending.detail, sorted(pending.names))
            try:
                await asyncio.to_thread(
                    self.post, namespace, pending.type, reason, message, len(pending.names)
                )
            except Exception:  # a lost Event must never fail work
                log.warning("could not post %s in %s", reason, namespace, exc_info=True)


_tasks: set["asyncio.Task[None]"] = set()
