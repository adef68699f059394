"""Leader election with a coordination.k8s.io Lease: one replica acts, the others wait.

As client-go does it: a standby never compares the holder's renewTime with its own clock
(clocks differ between nodes); it notes when it last saw the Lease change and takes over once
the Lease has stayed unchanged for a whole lease duration by its own monotonic clock, or at
once when the holder released it on a clean shutdown. Every write carries the resourceVersion
it read, so two standbys can never both take over.
"""

import datetime
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kubernetes import client
from kubernetes.client.rest import ApiException

log = logging.getLogger(__name__)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass
class LeaderElection:
    """One replica's side of the election for the Lease `namespace/name`."""

    api: client.ApiClient
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
    def _coordination(self) -> client.CoordinationV1Api:
        return client.CoordinationV1Api(self.api)

    def _spec(self, transitions: int, acquired: datetime.datetime) -> client.V1LeaseSpec:
        return client.V1LeaseSpec(
            holder_identity=self.identity,
            lease_duration_seconds=self.lease_seconds,
            acquire_time=acquired,
            renew_time=_now(),
            lease_transitions=transitions,
        )

    def try_acquire_or_renew(self) -> bool:
        """One attempt; True while this replica holds the Lease."""
        coordination = self._coordination
        try:
            lease = coordination.read_namespaced_lease(self.name, self.namespace)
        except ApiException as e:
            if e.status != 404:
                raise
            body = client.V1Lease(
                metadata=client.V1ObjectMeta(name=self.name, namespace=self.namespace),
                spec=self._spec(0, _now()),
            )
            return self._write(lambda: coordination.create_namespaced_lease(self.namespace, body))
        spec = lease.spec or client.V1LeaseSpec()
        holder = spec.holder_identity or ""
        transitions = spec.lease_transitions or 0
        if holder == self.identity:
            lease.spec = self._spec(transitions, spec.acquire_time or _now())
        else:
            seen = (holder, str(spec.renew_time), lease.metadata.resource_version)
            if seen != self._observed:
                self._observed, self._observed_at = seen, self.clock()
            duration = spec.lease_duration_seconds or self.lease_seconds
            if holder and self.clock() - self._observed_at < duration:
                return False
            lease.spec = self._spec(transitions + 1, _now())
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
        """True when we could not renew for a whole lease duration: another may lead now."""
        return self._last_renewed is None or (
            self.clock() - self._last_renewed >= self.lease_seconds
        )

    def release(self) -> None:
        """On a clean exit: leave the Lease without holder so a standby takes over at once."""
        coordination = self._coordination
        try:
            lease = coordination.read_namespaced_lease(self.name, self.namespace)
            if lease.spec is None or lease.spec.holder_identity != self.identity:
                return
            lease.spec.holder_identity = None
            lease.spec.renew_time = _now()
            coordination.replace_namespaced_lease(self.name, self.namespace, lease)
        except ApiException:
            log.warning("could not release the leader Lease; a standby takes over after it expires")
