"""What the handlers share at run time: API wrapper, caches, work queue, wake-ups, settings."""

import asyncio
import datetime
import random
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cheiron.api.sources import EcrRequest, EcrToken, RegistryLogin, Verdict
from cheiron.k8s.objects import Kube
from cheiron.pullsecrets.entries import EcrPolicy
from cheiron.pullsecrets.renewal import Cached
from cheiron.pullsecrets.verification import CheckBoard, VerifyPolicy
from cheiron.runtime.caches import Caches
from cheiron.runtime.events import EventAggregator
from cheiron.runtime.pools import Pools

if TYPE_CHECKING:
    from cheiron.runtime.workqueue import WorkQueue

# One GetAuthorizationToken call (cheiron.sources.ecr.fetch, passed in by `cheiron run`).
FetchEcr = Callable[[EcrRequest], EcrToken]
# Asking a registry about one login (cheiron.sources.skopeo.check_login, passed in likewise).
CheckLogin = Callable[[RegistryLogin], Awaitable[Verdict]]


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _jitter() -> float:
    return random.uniform(-1.0, 1.0)  # noqa: S311 - spreading load, not security


@dataclass
class Runtime:
    """Process-wide state of a running operator (set once by `cheiron run`)."""

    kube: Kube
    # A safety net only: changes arrive by watch; this bounds how stale a missed one can be.
    resync_seconds: float = 600.0
    # eatr compatibility: namespaces labelled `<ECR registry>: "true"` opt in to that entry.
    eatr: bool = False
    # What namespaced managers' ECR entries may use beyond their own keys.
    ecr_policy: EcrPolicy = field(default_factory=EcrPolicy)
    # Whether this operator serves the admission webhook: Pod mode cannot work without it.
    webhook_served: bool = False
    # Never served by the webhook nor backed up: cheiron's own namespace.
    operator_namespace: str = "cheiron-system"
    wakeups: dict[str, asyncio.Event] = field(default_factory=dict)
    # ECR tokens by (manager UID, entry Secret name); rebuilt from status after a restart.
    tokens: dict[tuple[str, str], Cached] = field(default_factory=dict)
    # Managers an entry of which reads a Secret that changed since their last pass: a
    # Degraded one tries its failed entries again at once instead of after their backoff.
    inputs_changed: set[str] = field(default_factory=set)
    # Each manager's entries as its last full pass resolved them, by manager key with the
    # generation they belong to: what a pass over one new namespace writes there.
    resolved: dict[str, tuple[int, tuple[Any, ...]]] = field(default_factory=dict)
    # When each manager last marked all its namespaces, with the generation it did so for.
    full_syncs: dict[str, tuple[int, datetime.datetime]] = field(default_factory=dict)
    # Writes the API server refused, by manager key and namespace: how many passes in a
    # row, when the namespace is tried again, and the last refusal.
    refusals: dict[str, dict[str, tuple[int, datetime.datetime, Any]]] = field(default_factory=dict)
    # Managers whose last pass left its status report to the next one (see managers.py).
    status_deferred: set[str] = field(default_factory=set)
    # (namespace, name, is_pod) of objects seen reconciled: their count is in manager status.
    reconciled: set[tuple[str, str, bool]] = field(default_factory=set)
    clock: Callable[[], datetime.datetime] = _now
    jitter: Callable[[], float] = _jitter
    fetch_ecr: FetchEcr = field(kw_only=True)
    # Which registries may be asked about credentials, and how often. The default asks none.
    verify_policy: VerifyPolicy = field(default_factory=lambda: VerifyPolicy(listed_only=True))
    check_login: CheckLogin | None = None
    # Verdicts by RegistryLogin.key: one question per credentials and interval, whichever
    # managers and entries share them.
    verdicts: dict[tuple[str, str], Verdict] = field(default_factory=dict)
    # The accepted payload each entry's Secrets hold, by (manager UID, entry Secret name): what
    # a rotation the registry rejects keeps (after a restart: read back from those Secrets).
    accepted: dict[tuple[str, str], bytes] = field(default_factory=dict)
    # The verdict each entry's last Event told of, by (manager UID, entry Secret name): a pass
    # whose status report is deferred must not tell it twice.
    told: dict[tuple[str, str], str] = field(default_factory=dict)
    # Registry checks queued and in flight, hosts backed off, failed logins per account
    # (pullsecrets.verification.CheckBoard); and per check, what the passes waiting on it
    # expect (controllers.verifier): the answer, and which managers it wakes.
    checks: CheckBoard = field(default_factory=CheckBoard)
    answers: dict[tuple[str, str], Any] = field(default_factory=dict)
    pools: Pools = field(default_factory=Pools)
    # Set by `cheiron run` once the event loop runs (they need it).
    caches: Caches | None = None
    queue: "WorkQueue[Hashable] | None" = None
    events: EventAggregator | None = None
    # Pending wake_soon calls: the timer and when its burst began.
    _soon: dict[str, tuple[asyncio.TimerHandle, float]] = field(default_factory=dict)

    def forget(self, key: str, uid: str) -> None:
        """Drop what the process remembers of a deleted manager."""
        self.resolved.pop(key, None)
        self.full_syncs.pop(key, None)
        self.refusals.pop(key, None)
        self.inputs_changed.discard(key)
        self.status_deferred.discard(key)
        for token in [t for t in self.tokens if t[0] == uid]:
            del self.tokens[token]
        for entry in [a for a in self.accepted if a[0] == uid]:
            del self.accepted[entry]
        for entry in [t for t in self.told if t[0] == uid]:
            del self.told[entry]
        self.checks.forget(key, uid)
        if (soon := self._soon.pop(key, None)) is not None:
            soon[0].cancel()

    def wake(self, *keys: str) -> None:
        """Make the named managers' loops reconcile now."""
        for key in keys:
            if (event := self.wakeups.get(key)) is not None:
                event.set()

    def wake_soon(self, *keys: str, interval: float = 1.5, cap: float = 10.0) -> None:
        """Wake the named loops once, when a burst of calls has been quiet for `interval`.

        For what only refreshes status (counts): the five ServiceAccounts of a namespace,
        or 5,000, becoming reconciled one after the other cost one pass and one status
        write, not one per account, even when a busy API server spreads them over seconds.
        A burst that never pauses still wakes them `cap` after its first call.
        """
        loop = asyncio.get_running_loop()
        now = loop.time()
        for key in keys:
            first = now
            if (pending := self._soon.get(key)) is not None:
                timer, first = pending
                if min(now + interval, first + cap) <= timer.when():
                    continue
                timer.cancel()
            due = min(now + interval, first + cap)
            self._soon[key] = (loop.call_at(due, self._wake_now, key), first)

    def _wake_now(self, key: str) -> None:
        self._soon.pop(key, None)
        self.wake(key)

    def enqueue(self, *keys: Hashable) -> None:
        """Queue work for the workers (a no-op before the queue exists)."""
        if self.queue is not None:
            for key in keys:
                self.queue.add(key)


_runtime: Runtime | None = None


def configure(runtime: Runtime) -> None:
    """Install the runtime before kopf starts."""
    global _runtime  # noqa: PLW0603 - one operator per process, set once at start
    _runtime = runtime


def runtime() -> Runtime:
    """The runtime installed by configure()."""
    if _runtime is None:
        raise RuntimeError("cheiron's runtime is not configured; start it with `cheiron run`")
    return _runtime
