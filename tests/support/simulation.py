"""A controllable clock and token issuer, and the caches read straight from the apiserver.

Used where the manager's reconcile runs in-process against the real apiserver with only
time and AWS simulated: the 48-hour renewal test and the renewal benchmark.
"""

import datetime

from kubernetes import client

from cheiron.api.sources import EcrRequest, EcrToken
from cheiron.k8s import snapshot
from cheiron.runtime.caches import fixed_caches
from cheiron.runtime.views import Views
from tests.support.moto import REGISTRY

SIM_START = datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC)
LIFETIME = datetime.timedelta(hours=12)


class Simulation:
    """The fake clock and a token issuer whose passwords say when they expire."""

    def __init__(self) -> None:
        """Start at SIM_START with no token issued."""
        self.now = SIM_START
        self.issued = 0

    def clock(self) -> datetime.datetime:
        """The simulated time."""
        return self.now

    def fetch(self, request: EcrRequest) -> EcrToken:
        """A new token valid for LIFETIME from now."""
        self.issued += 1
        expires = self.now + LIFETIME
        return EcrToken(REGISTRY, "AWS", f"token-{self.issued}@{expires.isoformat()}", expires)


def expiry_of(password: str) -> datetime.datetime:
    """When a simulated token expires, read back from its password."""
    return datetime.datetime.fromisoformat(password.partition("@")[2])


def views_from(api: client.ApiClient) -> Views:
    """What the caches would hold, read from the apiserver (Pods left out)."""
    seen = snapshot.read(api)
    return Views(
        fixed_caches(seen.namespaces.values(), seen.secrets, seen.accounts, (), seen.managers)
    )
