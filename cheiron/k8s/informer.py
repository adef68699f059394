"""List + watch of one kind into an in-memory cache, in the spirit of client-go's informers.

A thread per informer lists (paginated) and then watches from the list's resourceVersion with
bookmarks, decoding the JSON itself (no client models: they cost more than the fields cheiron
keeps) and turning each object into a slim frozen snapshot. The cache is changed only on the
event loop the informer was started from, so handlers and readers there never see it change
under them. A `410 Gone` relists and replaces the cache in one step: objects deleted while
the watch was away disappear, and their handlers hear a DELETED. Other failures reconnect
with backoff from the last resourceVersion seen.
"""

import asyncio
import json
import logging
import random
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from kubernetes.client.rest import ApiException

from cheiron.k8s.rest import METADATA_LIST, METADATA_WATCH

log = logging.getLogger(__name__)

T = TypeVar("T")
Key = tuple[str, str]  # (namespace or "", name)
ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"
# The resourceVersion `reconnect` is given to list anew instead of watching on.
RELIST = "relist"
# What the first list reports for each object: there, not new (kopf's `None` event type).
LISTED = "LISTED"
GONE = 410
# Handlers get (event type, key, the snapshot before, the snapshot after); None where the
# object is absent or its transform kept nothing of it.
Handler = Callable[[str, Key, T | None, T | None], None]


class _Expired(Exception):
    """The resourceVersion we watch from is older than the apiserver keeps: relist."""


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or "", meta.get("name") or ""


def _lines(response: Any) -> Iterator[bytes]:
    pending = b""
    for chunk in response.stream(amt=None, decode_content=True):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from (line for line in complete if line.strip())
    if pending.strip():
        yield pending


# Objects in a list's first page, before any size is known.
FIRST_PAGE = 20


def next_page_size(page_bytes: int, objects: int, most: int, budget: int) -> int:
    """How many objects the next list page asks for: as many as fit `budget` bytes, 1 to `most`.

    Sized from the last page's objects, so a page of tenants' 1 MiB Secrets asks for two.
    """
    if objects == 0 or page_bytes == 0:
        return most
    return max(1, min(most, budget * objects // page_bytes))


def backoff_seconds(failures: int, cap: float = 30.0) -> float:
    """Exponential backoff with jitter: about 0.5 s, 1 s, 2 s … up to `cap`."""
    base = min(cap, 0.5 * 2 ** min(max(0, failures - 1), 64))
    return float(base * random.uniform(0.8, 1.2))  # noqa: S311 - spreading reconnects, not security


@dataclass
class Informer(Generic[T]):
    """The cache of one kind, filled by list + watch.

    `list_fn` is a list method of the kind with the official client's signature (one of
    cheiron.k8s.rest's, or the official client's own), with `args` such as the namespace or
    the custom resource's group, version and plural; it is called with
    `_preload_content=False`, so the client handles authentication and TLS while the informer
    reads the raw stream. `transform` keeps what cheiron reads (None: keep nothing, but
    handlers still hear of the object). `group` files a snapshot under the key readers ask
    for most (its namespace, usually).
    """

    name: str
    list_fn: Callable[..., Any]
    transform: Callable[[Mapping[str, Any]], T | None]
    group: Callable[[T], Hashable]
    args: tuple[Any, ...] = ()
    label_selector: str | None = None
    field_selector: str | None = None
    # Objects per list page at most. A page is read and parsed whole, so each next page asks
    # for as many objects as fit `page_bytes` at the sizes seen so far (500 Secrets of 1 MiB
    # would be 500 MiB of JSON at once; 500 ServiceAccounts of 5,000 labels, 700 MiB parsed).
    page_size: int = 500
    page_bytes: int = 2 * 1024 * 1024
    # Metadata only (PartialObjectMetadata): for kinds whose content cheiron does not read.
    metadata_only: bool = False
    # Changes read from the watch but not yet applied on the loop: past this, the watch
    # thread waits (the apiserver holds the rest), so a flood of events cannot pile up.
    max_pending: int = 1000
    watch_seconds: int = 300
    connect_timeout: float = 10.0
    objects: dict[Key, T] = field(default_factory=dict)
    groups: dict[Hashable, dict[Key, T]] = field(default_factory=dict)
    # How many relists this informer made (the first list included); for tests and metrics.
    lists: int = 0

    def __post_init__(self) -> None:
        """Set up the state the thread and the loop share."""
        self._versions: dict[Key, str] = {}
        self._handlers: list[Handler[T]] = []
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._response: Any = None
        self._synced = threading.Event()
        self._synced_async: asyncio.Event | None = None
        self._reconnect: tuple[str | None, threading.Event | None] | None = None
        self._pending = threading.Semaphore(self.max_pending)
        # Relists asked for, and what to run once a list begun after each is in place.
        self._generation = 0
        self._after_relist: list[tuple[int, Callable[[], None]]] = []

    # --- reading (event loop only) -------------------------------------------------

    @property
    def started(self) -> bool:
        """`start` was called: it lists (or listed) on its own thread."""
        return self._thread is not None

    @property
    def has_synced(self) -> bool:
        """The first list has been applied (safe to read from any thread)."""
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        """Return once the first list has been applied (an informer started later counts)."""
        if self.has_synced:
            return
        if self._synced_async is None:
            self._synced_async = asyncio.Event()
        await self._synced_async.wait()

    def in_group(self, group: Hashable) -> Mapping[Key, T]:
        """The snapshots filed under `group` (empty when there are none)."""
        return self.groups.get(group, {})

    def fill(self, items: Iterable[tuple[Key, T]]) -> None:
        """Hold these snapshots as if listed, without listing or watching (a fixed view)."""
        self._replace([(key, "", value) for key, value in items])

    def add_handler(self, handler: Handler[T]) -> None:
        """Call `handler` on the loop after each change is applied to the cache."""
        self._handlers.append(handler)

    def assume(self, key: Key, value: T | None) -> None:
        """Record a write of ours before its watch event arrives (None: we deleted it).

        The watch event overwrites it with what the apiserver holds; a relist replaces it.
        """
        self._put(key, value)

    # --- running -------------------------------------------------------------------

    def start(self) -> None:
        """Start listing and watching; must be called from the event loop that reads."""
        self._loop = asyncio.get_running_loop()
        if self._synced_async is None:
            self._synced_async = asyncio.Event()
        self._thread = threading.Thread(target=self._run, name=f"informer-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (its open watch is shut down)."""
        self._stop.set()
        self._drop_stream()
        if self._thread is not None:
            self._thread.join(timeout)

    def reconnect(
        self, resource_version: str | None = None, wait_for: threading.Event | None = None
    ) -> None:
        """Drop the open watch; watch again from `resource_version` (default: the last seen).

        With `wait_for`, the informer stays disconnected until it is set, as after a network
        partition. A resourceVersion the apiserver no longer keeps leads to a relist.
        """
        self._reconnect = (resource_version, wait_for)
        self._drop_stream()

    def relist(self, then: Callable[[], None] | None = None) -> None:
        """List again from scratch, as when `transform` keeps more than before; then `then()`.

        The new snapshots replace the old ones in one step (handlers hear only of objects
        that changed on the server); `then` runs on the loop once they are in place.
        """
        self._generation += 1
        if then is not None:
            self._after_relist.append((self._generation, then))
        self._reconnect = (RELIST, None)
        self._drop_stream()

    def _drop_stream(self) -> None:
        response = self._response
        if response is not None:
            try:
                response.shutdown()
            except Exception:
                log.debug("closing the %s watch", self.name, exc_info=True)

    def _run(self) -> None:
        rv: str | None = None
        failures = 0
        while not self._stop.is_set():
            try:
                if rv is None:
                    generation = self._generation
                    items, rv = self._list()
                    self._post(self._replace, items, generation)
                rv = self._watch(rv)
                failures = 0
            except _Expired:
                log.info("%s: resourceVersion expired; relisting", self.name)
                rv = None
            except Exception as e:  # noqa: BLE001 - any failure: reconnect with backoff
                if self._stop.is_set():
                    return
                if self._reconnect is None:
                    failures += 1
                    delay = backoff_seconds(failures)
                    log.warning(
                        "%s: list/watch failed (%s: %s); retrying in %.1fs",
                        self.name,
                        type(e).__name__,
                        getattr(e, "reason", None) or e,
                        delay,
                    )
                    self._stop.wait(delay)
            if self._reconnect is not None:
                wanted, wait_for = self._reconnect
                self._reconnect = None
                if wait_for is not None:
                    wait_for.wait()
                rv = None if wanted == RELIST else wanted if wanted is not None else rv

    def _request(self, **kwargs: Any) -> Any:
        selectors = {
            k: v
            for k, v in (
                ("label_selector", self.label_selector),
                ("field_selector", self.field_selector),
            )
            if v
        }
        if self.metadata_only:
            kwargs["_accept"] = METADATA_WATCH if kwargs.get("watch") else METADATA_LIST
        return self.list_fn(*self.args, _preload_content=False, **selectors, **kwargs)

    def _list(self) -> tuple[list[tuple[Key, str, T | None]], str]:
        items: list[tuple[Key, str, T | None]] = []
        token: str | None = None
        # A few objects first: their size decides how many the next pages ask for.
        limit = min(self.page_size, FIRST_PAGE)
        while True:
            extra = {"_continue": token} if token else {}
            try:
                response = self._request(
                    limit=limit,
                    _request_timeout=(self.connect_timeout, 60),
                    **extra,
                )
            except ApiException as e:
                if e.status == GONE and token:
                    # The continue token expired between pages: start the list again.
                    items, token = [], None
                    continue
                raise
            size = len(response.data)
            page = json.loads(response.data)
            found = page.get("items") or []
            for obj in found:
                meta = obj.get("metadata") or {}
                items.append((_key(obj), meta.get("resourceVersion", ""), self.transform(obj)))
            limit = next_page_size(size, len(found), self.page_size, self.page_bytes)
            token = (page.get("metadata") or {}).get("continue") or None
            if token is None:
                self.lists += 1
                return items, str((page.get("metadata") or {}).get("resourceVersion", ""))

    def _watch(self, rv: str) -> str:
        try:
            response = self._request(
                watch=True,
                resource_version=rv,
                allow_watch_bookmarks=True,
                timeout_seconds=self.watch_seconds,
                _request_timeout=(self.connect_timeout, self.watch_seconds + 30),
            )
        except ApiException as e:
            if e.status == GONE:
                raise _Expired from e
            raise
        self._response = response
        complete = False
        try:
            if self._reconnect is not None:
                return rv  # asked to drop the watch while it was being opened
            for line in _lines(response):
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == GONE:
                        raise _Expired
                    raise RuntimeError(f"watch error: {obj.get('reason')}: {obj.get('message')}")
                rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
                if kind == "BOOKMARK":
                    continue
                value = None if kind == DELETED else self.transform(obj)
                self._post(self._apply, str(kind), _key(obj), rv, value)
            complete = not self._reconnect and not self._stop.is_set()
        finally:
            self._response = None
            if complete:
                response.release_conn()
            else:
                # A stream cut short (shut down, failed) must go back to the pool closed: the
                # next request on that connection would wait for an answer that never comes.
                response.close()
                response.release_conn()
        return rv

    def _post(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        # Wait for room: the loop applies what is queued, then this thread reads on.
        while not self._pending.acquire(timeout=0.5):
            if self._stop.is_set() or loop.is_closed():
                return

        def apply() -> None:
            try:
                fn(*args)
            finally:
                self._pending.release()

        try:
            loop.call_soon_threadsafe(apply)
        except RuntimeError:
            self._pending.release()
            self._stop.set()  # the loop is shutting down

    # --- changing the cache (event loop only) ------------------------------------

    def _put(self, key: Key, value: T | None) -> T | None:
        old = self.objects.pop(key, None)
        if old is not None:
            group = self.groups.get(self.group(old))
            if group is not None:
                group.pop(key, None)
                if not group:
                    self.groups.pop(self.group(old), None)
        if value is not None:
            self.objects[key] = value
            self.groups.setdefault(self.group(value), {})[key] = value
        return old

    def _apply(self, kind: str, key: Key, rv: str, value: T | None) -> None:
        if kind == DELETED:
            self._versions.pop(key, None)
        else:
            self._versions[key] = rv
        old = self._put(key, value)
        self._notify(kind, key, old, value)

    def _replace(
        self, items: list[tuple[Key, str, T | None]], generation: int | None = None
    ) -> None:
        before, old_objects = self._versions, self.objects
        self._versions = {key: rv for key, rv, _value in items}
        self.objects, self.groups = {}, {}
        for key, _rv, value in items:
            if value is not None:
                self.objects[key] = value
                self.groups.setdefault(self.group(value), {})[key] = value
        changes: list[tuple[str, Key, T | None, T | None]] = [
            (DELETED, key, old_objects.get(key), None)
            for key in before
            if key not in self._versions
        ]
        added = ADDED if self._synced.is_set() else LISTED
        for key, rv, value in items:
            previous = before.get(key)
            if previous is None:
                changes.append((added, key, None, value))
            elif previous != rv:
                changes.append((MODIFIED, key, old_objects.get(key), value))
        self._synced.set()
        if self._synced_async is not None:
            self._synced_async.set()
        for change in changes:
            self._notify(*change)
        listed = self._generation if generation is None else generation
        done = [then for g, then in self._after_relist if g <= listed]
        self._after_relist = [(g, then) for g, then in self._after_relist if g > listed]
        for then in done:
            then()

    def _notify(self, kind: str, key: Key, old: T | None, new: T | None) -> None:
        for handler in self._handlers:
            try:
                handler(kind, key, old, new)
            except Exception:
                log.exception("%s: handler failed on %s %s/%s", self.name, kind, *key)
