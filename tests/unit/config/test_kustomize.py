"""config/ renders with kubectl kustomize, and each install runs the operator as documented."""

import json
import os
from pathlib import Path

import pytest
import yaml

from cheiron.k8s.webhooks import WebhookEndpoint, create_webhook
from cheiron.webhooks.pods import POD_WEBHOOK
from tests.support.manifests import (
    CONFIG,
    Obj,
    container,
    find,
    kustomize,
    kustomize_in,
    named_port,
    one,
    run_args,
)

IMAGE = "ghcr.io/anny-co/cheiron:0.1.0"


def _crds_of_the_code() -> list[Obj]:
    return [yaml.safe_load(p.read_text()) for p in sorted((CONFIG / "crd" / "bases").iterdir())]


def test_default_is_the_cluster_install(kustomized: dict[str, list[Obj]]) -> None:
    assert kustomized["default"] == kustomized["cluster"]


def test_both_installs_carry_the_crds_as_generated(kustomized: dict[str, list[Obj]]) -> None:
    expected = sorted(_crds_of_the_code(), key=lambda c: c["metadata"]["name"])
    for overlay in ("cluster", "namespaced"):
        crds = find(kustomized[overlay], "CustomResourceDefinition")
        assert sorted(crds, key=lambda c: c["metadata"]["name"]) == expected


def test_cluster_install_serves_every_namespace_and_the_webhook(
    kustomized: dict[str, list[Obj]],
) -> None:
    objects = kustomized["cluster"]
    deployment = one(objects, "Deployment", "cheiron")
    args = run_args(deployment)
    assert args.all_namespaces
    assert args.namespace == []
    assert container(deployment)["image"] == IMAGE
    assert one(objects, "Namespace", "cheiron-system")
    # The apiserver reaches the webhook through the Service named on the command line.
    service_ns, service_name = args.webhook_service.split("/")
    service = one(objects, "Service", service_name)
    assert service["metadata"]["namespace"] == service_ns == deployment["metadata"]["namespace"]
    assert service["spec"]["ports"][0]["targetPort"] == args.webhook_port
    assert named_port(deployment, "webhook") == args.webhook_port
    assert service["spec"]["selector"].items() <= (
        deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    assert args.webhook_listen == "0.0.0.0"  # noqa: S104 - the Service calls the Pod IP
    assert not args.no_webhook_configuration
    # What is applied equals what the operator itself writes at start (minus the caBundle).
    hook = create_webhook(
        "pods",
        WebhookEndpoint(b"", service_namespace=service_ns, service_name=service_name),
        POD_WEBHOOK,
        excluded_namespaces=["kube-system", service_ns],
        failure_policy=args.webhook_failure_policy,
        timeout_seconds=args.webhook_timeout,
    )
    del hook["clientConfig"]["caBundle"]
    assert one(objects, "MutatingWebhookConfiguration", "cheiron")["webhooks"] == [hook]


def test_namespaced_install_serves_its_own_namespace_without_webhook(
    kustomized: dict[str, list[Obj]],
) -> None:
    objects = kustomized["namespaced"]
    deployment = one(objects, "Deployment", "cheiron")
    args = run_args(deployment)
    assert args.namespace == [deployment["metadata"]["namespace"]]
    assert not args.webhook_port
    assert find(objects, "MutatingWebhookConfiguration") == []
    assert find(objects, "Namespace") == []
    env = {e["name"]: e for e in container(deployment)["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"


@pytest.mark.parametrize("overlay", ["cluster", "namespaced"])
def test_every_replica_has_metrics_and_only_the_leader_serves_admission(
    overlay: str, kustomized: dict[str, list[Obj]]
) -> None:
    objects = kustomized[overlay]
    deployment = one(objects, "Deployment", "cheiron")
    args = run_args(deployment)
    assert args.leader_elect
    assert deployment["spec"]["replicas"] == 2
    assert named_port(deployment, "metrics") == args.metrics_port
    service = one(objects, "Service", "cheiron-metrics")
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": args.metrics_port, "targetPort": "metrics"}
    ]
    # A standby is not Ready but has metrics of its own (cheiron_leader 0).
    assert service["spec"]["publishNotReadyAddresses"] is True
    # Ready Pods only: the leader, the one replica that runs the webhook server.
    webhooks = find(objects, "Service", "cheiron-webhook")
    assert len(webhooks) == (1 if args.webhook_port else 0)
    assert not any(w["spec"].get("publishNotReadyAddresses") for w in webhooks)


def test_prometheus_component_scrapes_the_metrics_port(tmp_path: Path, kubectl: Path) -> None:
    # kustomize takes relative paths only.
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": [os.path.relpath(CONFIG / "cluster", tmp_path)],
                "components": [os.path.relpath(CONFIG / "prometheus", tmp_path)],
            }
        )
    )
    objects = kustomize(tmp_path)
    deployment = one(objects, "Deployment", "cheiron")
    assert named_port(deployment, "metrics") == 9090
    service = one(objects, "Service", "cheiron-metrics")
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 9090, "targetPort": "metrics"}]
    monitor = one(objects, "ServiceMonitor", "cheiron")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= (
        service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    rule = one(objects, "PrometheusRule", "cheiron")
    assert rule["metadata"]["namespace"] == "cheiron-system"
    dashboard = one(objects, "ConfigMap", "cheiron-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["cheiron.json"])["uid"] == "cheiron"
    # The webhook Service must not be scraped: it carries no metrics label.
    webhook = one(objects, "Service", "cheiron-webhook")
    assert not monitor["spec"]["selector"]["matchLabels"].items() <= (
        webhook["metadata"]["labels"].items()
    )


def test_a_users_namespace_moves_every_namespaced_object(tmp_path: Path, kubectl: Path) -> None:
    objects = kustomize_in(CONFIG / "namespaced", "team-a", tmp_path / "overlay")
    namespaces = {
        o["metadata"]["namespace"]
        for o in objects
        if o["kind"] in ("ServiceAccount", "Role", "RoleBinding", "Deployment")
    }
    assert namespaces == {"team-a"}
    subjects = [
        s
        for b in find(objects, "ClusterRoleBinding") + find(objects, "RoleBinding")
        for s in b["subjects"]
    ]
    assert {s["namespace"] for s in subjects} == {"team-a"}


@pytest.mark.parametrize("overlay", ["cluster", "namespaced"])
def test_a_users_namespace_moves_the_lease_flow_schemas_subject(
    overlay: str, tmp_path: Path, kubectl: Path
) -> None:
    objects = kustomize_in(CONFIG / overlay, "team-a", tmp_path / "overlay")
    (rule,) = one(objects, "FlowSchema")["spec"]["rules"]
    assert [s["serviceAccount"]["namespace"] for s in rule["subjects"]] == ["team-a"]
