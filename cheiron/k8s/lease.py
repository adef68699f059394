"""Leader election with a coordination.k8s.io Lease: one replica acts, the others wait.

As client-go does it: a standby never compares the holder's renewTime with its own clock
(clocks differ between nodes); it notes when it last saw the Lease change and takes over once
the Lease has stayed unchanged for a whole lease duration by its own monotonic clock, or at
once when the holder released it on a clean shutdown. Every write carries the resourceVersion
it read, so two standbys can never both take over.

The holder gives up earlier than a standby takes over: once it could not renew for its renew
deadline (two thirds of the lease), and every Lease call times out well within that, so a
hung apiserver connection cannot leave the old leader acting after a standby took over. A
throttled Lease call (429) is asked again only briefly (`retries`): the next renewal is soon.
"""

import datetime
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client import ApiClient
from kubernetes.client.rest import ApiException

from cheiron.k8s.rest import CoordinationApi, Retries

log = logging.getLogger(__name__)


def _now() -> str:
    # As the official client wrote a datetime (isoformat): the apiserver reads RFC 3339.
    return datetime.datetime.now(datetime.UTC).isoformat()


@dataclass
class LeaderElection:
    """One replica's side of the election for the Lease `namespace/name`."""

    api: ApiClient
    namespace: str
    name: str
    identity: str
    lease_seconds: int = 15
    clock: Callable[[], float] = time.monotonic
    # (holder, renewTime, resourceVersion) last seen, and when it was first seen so.
    _observed: tuple[str, str, str] | None = field(default=None, init=False)
    _observed_at: float = field(default=0.0, init=False)
    _last_renewed: float | None = field(default=None, init=False)

    @property
    def renew_deadline(self) -> float:
        """Seconds without a renewal after which the holder must stop acting."""
        return self.lease_seconds * 2 / 3

    @property
    def request_timeout(self) -> tuple[float, float]:
        """(connect, read) per Lease call: a hung call ends in time for another try."""
        return (1.0, max(2.0, self.lease_seconds / 6))

    @property
    def retries(self) -> Retries:
        """A throttled Lease call is asked again within a tenth of the lease, then given up."""
        tenth = self.lease_seconds / 10
        return Retries(attempts=3, budget=tenth, cap=tenth, backoff=min(0.2, tenth))

    @property
    def _coordination(self) -> CoordinationApi:
        return CoordinationApi(self.api, self.request_timeout, self.retries)

    def _spec(self, transitions: int, acquired: str) -> dict[str, Any]:
        return {
            "acquireTime": acquired,
            "holderIdentity": self.identity,
            "leaseDurationSeconds": self.lease_seconds,
            "leaseTransitions": transitions,
            "renewTime": _now(),
        }

    def try_acquire_or_renew(self) -> bool:
        """One attempt; True while this replica holds the Lease."""
        coordination = self._coordination
        try:
            lease = coordination.read_namespaced_lease(self.name, self.namespace)
        except ApiException as e:
            if e.status != 404:
                raise
            body = {
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": self._spec(0, _now()),
            }
            return self._write(lambda: coordination.create_namespaced_lease(self.namespace, body))
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        transitions = spec.get("leaseTransitions") or 0
        if holder == self.identity:
            lease["spec"] = self._spec(transitions, spec.get("acquireTime") or _now())
        else:
            seen = (holder, str(spec.get("renewTime")), lease["metadata"]["resourceVersion"])
            if seen != self._observed:
                self._observed, self._observed_at = seen, self.clock()
            duration = spec.get("leaseDurationSeconds") or self.lease_seconds
            if holder and self.clock() - self._observed_at < duration:
                return False
            lease["spec"] = self._spec(transitions + 1, _now())
        return self._write(
            lambda: coordination.replace_namespaced_lease(self.name, self.namespace, lease)
        )

    def _write(self, call: Callable[[], object]) -> bool:
        try:
            call()
        except ApiException as e:
            if e.status in (404, 409):
                return False  # somebody else moved first: read again next time
            raise
        self._last_renewed = self.clock()
        return True

    def expired_for_us(self) -> bool:
        """True when we could not renew within the renew deadline: stop before another leads."""
        return self._last_renewed is None or (
            self.clock() - self._last_renewed >= self.renew_deadline
        )

    def release(self) -> None:
        """On a clean exit: leave the Lease without holder so a standby takes over at once."""
        coordination = self._coordination
        try:
            lease = coordination.read_namespaced_lease(self.name, self.namespace)
            spec = lease.get("spec")
            if spec is None or spec.get("holderIdentity") != self.identity:
                return
            spec.pop("holderIdentity", None)
            spec["renewTime"] = _now()
            coordination.replace_namespaced_lease(self.name, self.namespace, lease)
        except ApiException:
            log.warning("could not release the leader Lease; a standby takes over after it expires")
