"""A controllable clock and token issuer, and kopf's indexes read straight from the apiserver.

Used where the manager's reconcile runs in-process against the real apiserver with only
time and AWS simulated: the 48-hour renewal test and the renewal benchmark.
"""

import datetime
from typing import Any

from kubernetes import client

from cheiron import API_GROUP, API_VERSION
from cheiron.api.observed import (
    ManagerKind,
    account_info,
    manager_info,
    namespace_info,
    secret_info,
)
from cheiron.api.sources import EcrRequest
from cheiron.controllers.indexes import Indexes
from cheiron.sources.ecr import EcrToken

SIM_START = datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC)
LIFETIME = datetime.timedelta(hours=12)
REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
CLUSTER_PLURAL = "clusterimagepullsecretmanagers"


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


def indexes_from(api: client.ApiClient) -> Indexes:
    """What kopf's indexes would hold (cluster managers only), read from the apiserver."""
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    plain = api.sanitize_for_serialization

    def by_namespace(items: list[Any], info: Any) -> dict[str, list[Any]]:
        grouped: dict[str, list[Any]] = {}
        for item in items:
            body = plain(item)
            grouped.setdefault(body["metadata"]["namespace"], []).append(info(body))
        return grouped

    namespaces = {
        ns.metadata.name: [namespace_info(plain(ns))] for ns in core.list_namespace().items
    }
    managers = custom.list_cluster_custom_object(API_GROUP, API_VERSION, CLUSTER_PLURAL)["items"]
    return Indexes(
        {
            "namespaces_idx": namespaces,
            "secrets_idx": by_namespace(core.list_secret_for_all_namespaces().items, secret_info),
            "accounts_idx": by_namespace(
                core.list_service_account_for_all_namespaces().items, account_info
            ),
            "pods_idx": {},
            "ipsm_idx": {},
            "cipsm_idx": {None: [manager_info(ManagerKind.CLUSTER, m) for m in managers]},
        }
    )
