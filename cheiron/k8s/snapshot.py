"""One consistent read of what cheiron's watches would hold, for `cheiron plan` and tools.

The operator itself never lists like this: its picture comes from kopf's watches. A dry run
has no watches, so it lists each kind once.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client
from pydantic import ValidationError

from cheiron import API_GROUP, API_VERSION
from cheiron.api.observed import (
    PLURALS,
    AccountInfo,
    ManagerInfo,
    ManagerKind,
    NamespaceInfo,
    SecretInfo,
    account_info,
    manager_info,
    namespace_info,
    relevant_secret,
    secret_info,
)


@dataclass(frozen=True)
class Snapshot:
    """Namespaces, pull Secrets, ServiceAccounts, Pods and valid managers, as observed."""

    namespaces: dict[str, NamespaceInfo]
    secrets: list[SecretInfo]
    accounts: list[AccountInfo]
    pods: list[AccountInfo]
    managers: list[ManagerInfo]
    # Managers whose spec does not validate, by key: reported, never planned.
    invalid: list[str] = field(default_factory=list)
    # Each valid manager's status as the operator last wrote it, by key.
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)


def read(api: client.ApiClient, namespaces: Iterable[str] = (), *, eatr: bool = False) -> Snapshot:
    """List every kind once; with `namespaces`, only those (and no cluster managers)."""
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    plain = api.sanitize_for_serialization
    scope = list(namespaces)

    def listed(all_ns: Any, per_ns: Any) -> list[dict[str, Any]]:
        if not scope:
            return [plain(o) for o in all_ns().items]
        return [plain(o) for ns in scope for o in per_ns(ns).items]

    # Only pull Secrets and cheiron's own matter, as in the operator's index.
    secrets = [
        secret_info(s)
        for s in listed(core.list_secret_for_all_namespaces, core.list_namespaced_secret)
        if relevant_secret(s)
    ]
    managers: list[ManagerInfo] = []
    invalid: list[str] = []
    statuses: dict[str, dict[str, Any]] = {}
    kinds = [ManagerKind.NAMESPACED] + ([] if scope else [ManagerKind.CLUSTER])
    for kind in kinds:
        plural = PLURALS[kind]
        items = (
            [
                m
                for ns in scope
                for m in custom.list_namespaced_custom_object(API_GROUP, API_VERSION, ns, plural)[
                    "items"
                ]
            ]
            if scope
            else custom.list_cluster_custom_object(API_GROUP, API_VERSION, plural)["items"]
        )
        for body in items:
            try:
                managers.append(manager_info(kind, body, eatr=eatr))
                statuses[managers[-1].key] = dict(body.get("status") or {})
            except ValidationError:
                meta = body["metadata"]
                invalid.append("/".join(filter(None, (kind, meta.get("namespace"), meta["name"]))))
    return Snapshot(
        namespaces={
            ns.name: ns for ns in (namespace_info(plain(n)) for n in core.list_namespace().items)
        },
        secrets=secrets,
        accounts=[
            account_info(a)
            for a in listed(
                core.list_service_account_for_all_namespaces,
                core.list_namespaced_service_account,
            )
        ],
        pods=[
            account_info(p, pod=True)
            for p in listed(core.list_pod_for_all_namespaces, core.list_namespaced_pod)
        ],
        managers=managers,
        invalid=invalid,
        statuses=statuses,
    )
