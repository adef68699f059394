"""A throttling apiserver (API Priority and Fairness answers 429) is waited out, not refused.

The operator runs as a ServiceAccount of its own, as installed: the admin's certificate is in
system:masters, which APF exempts. A FlowSchema puts that account's writes in a priority
level of no seats of its own that rejects what it cannot run at once, so cheiron's parallel
writes across many namespaces meet 429s; the chart's FlowSchema takes the Lease calls out of
it into the built-in leader-election level.
"""

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from cheiron import API_GROUP, API_VERSION
from cheiron.devcluster import ControlPlane
from tests.support.managers import (
    create_manager,
    events_for,
    get_manager,
    inline,
    manager_body,
    pull_secrets,
)
from tests.support.manifests import helm_template, one
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually

ACCOUNT = "cheiron"  # the chart's ServiceAccount name, which its FlowSchema names
NAMESPACES = 24
LEASE_SECONDS = 6
# A deadline for the poll, not a measurement: every write waits its turn behind one seat.
CONVERGED = 240
PRIORITY_LEVEL_HEADER = "X-Kubernetes-PF-PriorityLevel-UID"


@dataclass
class Throttled:
    """The operator's account, its kubeconfig, and the priority level throttling it."""

    namespace: str
    kubeconfig: Path
    level: str
    level_uid: str


def _account_kubeconfig(plane: ControlPlane, api: client.ApiClient, namespace: str) -> Path:
    """A kubeconfig of the account: a TokenRequest token and the cluster's CA."""
    token = (
        client.CoreV1Api(api)
        .create_namespaced_service_account_token(
            ACCOUNT,
            namespace,
            client.AuthenticationV1TokenRequest(
                spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
            ),
        )
        .status.token
    )
    cluster = yaml.safe_load(plane.kubeconfig_path.read_text())["clusters"][0]["cluster"]
    path = plane.kubeconfig_path.parent / f"throttled-{namespace}.kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "local", "cluster": cluster}],
                "users": [{"name": ACCOUNT, "user": {"token": token}}],
                "contexts": [{"name": ACCOUNT, "context": {"cluster": "local", "user": ACCOUNT}}],
                "current-context": ACCOUNT,
            }
        )
    )
    path.chmod(0o600)
    return path


def _ignore_missing(delete: Any, *args: Any) -> None:
    try:
        delete(*args)
    except ApiException as e:
        if e.status != 404:
            raise


@pytest.fixture
def throttled(
    control_plane: ControlPlane, crds: None, api_client: client.ApiClient, namespace: str
) -> Iterator[Throttled]:
    """The account (cluster-admin by RBAC, not exempt from APF), throttled for its writes."""
    core, rbac = client.CoreV1Api(api_client), client.RbacAuthorizationV1Api(api_client)
    flow = client.FlowcontrolApiserverV1Api(api_client)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": ACCOUNT}})
    name = f"cheiron-throttle-{uuid.uuid4().hex[:6]}"
    rbac.create_cluster_role_binding(
        {
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole"}
            | {"name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": namespace}],
        }
    )
    # No seats of its own and none borrowed: one request at a time, the rest answered 429.
    level = flow.create_priority_level_configuration(
        {
            "metadata": {"name": name},
            "spec": {
                "type": "Limited",
                "limited": {
                    "nominalConcurrencyShares": 0,
                    "lendablePercent": 0,
                    "borrowingLimitPercent": 0,
                    "limitResponse": {"type": "Reject"},
                },
            },
        }
    )
    subject = {
        "kind": "ServiceAccount",
        "serviceAccount": {"name": ACCOUNT, "namespace": namespace},
    }
    writes = ["create", "update", "patch", "delete"]
    flow.create_flow_schema(
        {
            "metadata": {"name": name},
            "spec": {
                "priorityLevelConfiguration": {"name": name},
                # Wins over the built-in service-accounts schema (9000), loses to the chart's.
                "matchingPrecedence": 1000,
                "distinguisherMethod": {"type": "ByUser"},
                "rules": [
                    {
                        "subjects": [subject],
                        "resourceRules": [
                            {
                                "apiGroups": ["*"],
                                "resources": ["*"],
                                "verbs": writes,
                                "namespaces": ["*"],
                                "clusterScope": True,
                            }
                        ],
                    }
                ],
            },
        }
    )
    # The chart's own FlowSchema for the Lease, as installed in this namespace.
    lease_schema = one(helm_template(namespace), "FlowSchema")
    flow.create_flow_schema(lease_schema)
    try:
        yield Throttled(
            namespace,
            _account_kubeconfig(control_plane, api_client, namespace),
            name,
            level.metadata.uid,
        )
    finally:
        for delete, target in (
            (flow.delete_flow_schema, lease_schema["metadata"]["name"]),
            (flow.delete_flow_schema, name),
            (flow.delete_priority_level_configuration, name),
            (rbac.delete_cluster_role_binding, name),
        ):
            _ignore_missing(delete, target)


def _level_of(api: client.ApiClient, method: str, path: str, body: Any = None) -> str | None:
    """The UID of the priority level APF put a call of `api`'s user in (a response header)."""
    settings = api.configuration.auth_settings().values()
    headers = {s["key"]: s["value"] for s in settings if s["in"] == "header" and s["value"]}
    if body is not None:
        headers["Content-Type"] = "application/json"
    response = api.rest_client.request(
        method, api.configuration.host + path, headers=headers, body=body
    )
    level = response.headers.get(PRIORITY_LEVEL_HEADER)
    return None if level is None else str(level)


def _level_uid(api: client.ApiClient, name: str) -> str:
    level = client.FlowcontrolApiserverV1Api(api).read_priority_level_configuration(name)
    return str(level.metadata.uid)


def _rejected(api: client.ApiClient, level: str) -> float:
    """How many requests APF rejected in `level`, from the apiserver's metrics."""
    response = api.rest_client.request("GET", api.configuration.host + "/metrics")
    text = response.read().decode()
    metric = "apiserver_flowcontrol_rejected_requests_total"
    pattern = rf'^{metric}{{[^}}]*priority_level="{re.escape(level)}"[^}}]*}} (\S+)$'
    return sum(float(v) for v in re.findall(pattern, text, re.MULTILINE))


def _replica(throttled: Throttled, tmp_path: Path, name: str) -> OperatorProcess:
    return OperatorProcess(
        throttled.kubeconfig,
        tmp_path / f"{name}.log",
        (
            "--leader-elect",
            "--lease-seconds",
            str(LEASE_SECONDS),
            "--operator-namespace",
            throttled.namespace,
        ),
        wait=False,
    )


def _status(custom: client.CustomObjectsApi, name: str, seen: list[dict[str, Any]]) -> Any:
    """The manager's status now, also kept in `seen`: every one polled is checked at the end."""
    status = get_manager(custom, None, name).get("status") or {}
    seen.append(status)
    return status


def _refused(status: dict[str, Any]) -> bool:
    reasons = [c.get("reason") for c in status.get("conditions", [])]
    return bool(status.get("refusedNamespaces") or status.get("refusals")) or (
        "WriteRefused" in reasons
    )


def test_a_throttled_leader_waits_its_turn_refuses_nothing_and_keeps_leading(
    api_client: client.ApiClient,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    throttled: Throttled,
    tmp_path: Path,
) -> None:
    label = f"throttled-{uuid.uuid4().hex[:6]}"
    targets = [f"{throttled.namespace}-{i}" for i in range(NAMESPACES)]
    for ns in targets:
        core.create_namespace({"metadata": {"name": ns, "labels": {"cheiron-test/pulls": label}}})
    name = f"throttled-{uuid.uuid4().hex[:6]}"
    body = manager_body(name, [inline("a"), inline("b", "quay.io")], cluster=True)
    body["spec"]["target"] = {
        "namespaces": {"labels": [{"matchLabels": {"cheiron-test/pulls": label}}]}
    }
    manager = (API_GROUP, API_VERSION, "clusterimagepullsecretmanagers")
    first, second = (_replica(throttled, tmp_path, n) for n in ("first", "second"))
    as_operator = config.new_client_from_config(config_file=str(throttled.kubeconfig))
    try:
        with first:
            eventually(first.ready, timeout=60, what="first replica leads")
            with second:
                eventually(lambda: "waiting to lead" in second.logs(), what="second waits")
                # The schemas classify as meant: the Lease out of the throttled level, the
                # writes in it.
                lease = f"/apis/coordination.k8s.io/v1/namespaces/{throttled.namespace}/leases"
                assert _level_of(as_operator, "GET", f"{lease}/cheiron") == _level_uid(
                    api_client, "leader-election"
                )
                probe = {"metadata": {"name": "probe"}}
                configmaps = f"/api/v1/namespaces/{throttled.namespace}/configmaps?dryRun=All"
                assert _level_of(as_operator, "POST", configmaps, probe) == throttled.level_uid
                rejected_before = _rejected(api_client, throttled.level)

                create_manager(custom, None, body)
                seen: list[dict[str, Any]] = []

                def converged() -> bool:
                    _status(custom, name, seen)
                    return all(sorted(pull_secrets(core, ns)) == ["a", "b"] for ns in targets)

                eventually(converged, timeout=CONVERGED, interval=0.5, what="every target served")
                eventually(
                    lambda: _status(custom, name, seen).get("phase") == "Ready",
                    timeout=CONVERGED,
                    interval=0.5,
                    what="the manager Ready",
                )
                assert seen
                refused = [s for s in seen if _refused(s)]
                assert not refused, refused[0]
                # The writes were throttled indeed, and nothing took that for a refusal.
                assert _rejected(api_client, throttled.level) > rejected_before
                logs = first.logs()
                assert " refused (" not in logs, logs[-4000:]
                events = events_for(core, "default", name)
                assert not [e for e in events if e.reason == "WriteRefused"]
                # The leader never lost its Lease: the standby still waits, having done nothing.
                assert first.exit_code() is None, logs[-4000:]
                assert "could not renew the leader Lease in time" not in logs
                assert not second.ready()
                assert second.passes() == []
    finally:
        # The operators are gone: nothing would take the finalizer off.
        _ignore_missing(custom.delete_cluster_custom_object, *manager, name)
        _ignore_missing(
            custom.patch_cluster_custom_object, *manager, name, {"metadata": {"finalizers": None}}
        )
        for ns in targets:
            _ignore_missing(core.delete_namespace, ns)
