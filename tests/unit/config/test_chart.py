"""charts/cheiron lints, renders both install modes, and renders what config/ does."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cheiron.k8s.permissions import PERMISSIONS, Scope
from cheiron.k8s.webhooks import WebhookEndpoint, create_webhook
from cheiron.webhooks.pods import POD_WEBHOOK
from cheiron.webhooks.serviceaccounts import SERVICE_ACCOUNT_WEBHOOK
from tests.support.manifests import (
    ACCOUNT,
    CHART,
    CLUSTER,
    CONFIG,
    Obj,
    container,
    find,
    granted,
    helm_template,
    named_port,
    one,
    required,
    run_args,
)

MODES = ("cluster", "namespaced")
# The built-in FlowSchema that every ServiceAccount's requests meet otherwise (APF).
SERVICE_ACCOUNTS_PRECEDENCE = 9000


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"installMode": "namespaced"},
        {"metrics.enabled": "true", "metrics.serviceMonitor.enabled": "true"},
        {"webhook.failurePolicy": "Fail", "webhook.serviceAccounts": "true"},
        {"metrics.enabled": "false"},
        {"leaderElection.enabled": "false", "logFormat": "json"},
        {"leaderElection.flowSchema.enabled": "false"},
    ],
)
def test_helm_lint_passes(helm: Path, values: dict[str, str]) -> None:
    sets = [f"--set={k}={v}" for k, v in values.items()]
    done = subprocess.run(
        [str(helm), "lint", "--strict", str(CHART), *sets],
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("value", "bad"), [("installMode", "everywhere"), ("logFormat", "yaml"), ("replicaCount", "0")]
)
def test_helm_lint_refuses_a_value_out_of_range(helm: Path, value: str, bad: str) -> None:
    done = subprocess.run(
        [str(helm), "lint", str(CHART), f"--set={value}={bad}"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert value in done.stdout + done.stderr


def test_chart_crds_are_the_generated_ones() -> None:
    generated = {p.name: p.read_bytes() for p in (CONFIG / "crd" / "bases").iterdir()}
    copied = {p.name: p.read_bytes() for p in (CHART / "crds").iterdir()}
    assert copied == generated, "copy config/crd/bases/* to charts/cheiron/crds/ (make crds)"


@pytest.mark.parametrize("mode", MODES)
def test_rbac_equals_the_kustomize_install(
    mode: str, kustomized: dict[str, list[Obj]], charted: dict[str, list[Obj]]
) -> None:
    from_helm = granted(charted[mode], "cheiron-system")
    assert from_helm == granted(kustomized[mode], "cheiron-system")
    assert from_helm == required(run_args(one(charted[mode], "Deployment", "cheiron")))


@pytest.mark.parametrize("mode", MODES)
def test_operator_runs_as_the_kustomize_install_does(
    mode: str, kustomized: dict[str, list[Obj]], charted: dict[str, list[Obj]]
) -> None:
    from_helm = one(charted[mode], "Deployment", "cheiron")
    from_kustomize = one(kustomized[mode], "Deployment", "cheiron")
    assert container(from_helm)["image"] == container(from_kustomize)["image"]
    helm_args, kustomize_args = vars(run_args(from_helm)), vars(run_args(from_kustomize))
    # Only the chart passes the resync explicitly (a value); the rest must agree.
    assert helm_args.pop("resync_seconds") == kustomize_args.pop("resync_seconds")
    assert helm_args == kustomize_args
    assert container(from_helm)["securityContext"] == container(from_kustomize)["securityContext"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container(from_helm)[probe] == container(from_kustomize)[probe]
    for field in ("replicas", "strategy"):
        assert from_helm["spec"][field] == from_kustomize["spec"][field]
    ports = [sorted(container(d)["ports"], key=str) for d in (from_helm, from_kustomize)]
    assert ports[0] == ports[1]
    services = [
        one(o, "Service", "cheiron-metrics")["spec"] for o in (charted[mode], kustomized[mode])
    ]
    for field in ("ports", "publishNotReadyAddresses"):
        assert services[0][field] == services[1][field]


def test_namespaced_installs_side_by_side_do_not_share_cluster_objects(helm: Path) -> None:
    def cluster_scoped(namespace: str) -> set[tuple[str, str]]:
        objects = helm_template(namespace, {"installMode": "namespaced"})
        return {
            (o["kind"], o["metadata"]["name"])
            for o in objects
            if o["kind"] in ("ClusterRole", "ClusterRoleBinding", "FlowSchema")
        }

    team_a, team_b = cluster_scoped("team-a"), cluster_scoped("team-b")
    assert team_a
    assert team_a.isdisjoint(team_b)


def test_namespaced_mode_never_registers_a_webhook(helm: Path) -> None:
    objects = helm_template("team-a", {"installMode": "namespaced", "webhook.enabled": "true"})
    assert find(objects, "MutatingWebhookConfiguration") == []
    args = run_args(one(objects, "Deployment", "cheiron"))
    assert args.namespace == ["team-a"]
    assert not args.webhook_port
    assert CLUSTER in granted(objects, "team-a")  # Namespaces and CRDs only (test_rbac)


def test_webhook_values_reach_the_operator_and_the_configuration(helm: Path) -> None:
    objects = helm_template(
        "ops",
        {
            "webhook.failurePolicy": "Fail",
            "webhook.timeoutSeconds": "5",
            "webhook.port": "8443",
            "webhook.serviceAccounts": "true",
        },
    )
    deployment = one(objects, "Deployment", "cheiron")
    args = run_args(deployment)
    assert (args.webhook_failure_policy, args.webhook_timeout, args.webhook_port) == (
        "Fail",
        5,
        8443,
    )
    assert args.webhook_serviceaccounts
    assert args.webhook_service == "ops/cheiron-webhook"
    assert named_port(deployment, "webhook") == 8443
    assert one(objects, "Service", "cheiron-webhook")["spec"]["ports"][0]["targetPort"] == "webhook"
    endpoint = WebhookEndpoint(b"", service_namespace="ops", service_name="cheiron-webhook")
    expected = [
        create_webhook(
            resource,
            endpoint,
            path,
            excluded_namespaces=["kube-system", "ops"],
            failure_policy="Fail",
            timeout_seconds=5,
        )
        for resource, path in (("pods", POD_WEBHOOK), ("serviceaccounts", SERVICE_ACCOUNT_WEBHOOK))
    ]
    for hook in expected:
        del hook["clientConfig"]["caBundle"]
    assert one(objects, "MutatingWebhookConfiguration", "cheiron")["webhooks"] == expected
    # Still what the operator's RBAC allows it to rewrite.
    assert granted(objects, "ops") == required(args)


def test_image_and_resources_come_from_values(helm: Path) -> None:
    objects = helm_template(
        "ops",
        {
            "image.repository": "registry.example/cheiron",
            "image.tag": "1.2.3",
            "image.pullPolicy": "Always",
            "resources.limits.memory": "1Gi",
        },
    )
    operator = container(one(objects, "Deployment", "cheiron"))
    assert operator["image"] == "registry.example/cheiron:1.2.3"
    assert operator["imagePullPolicy"] == "Always"
    assert operator["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}


def test_metrics_are_served_by_default_and_the_monitor_is_opt_in(
    helm: Path, charted: dict[str, list[Obj]]
) -> None:
    # The ServiceMonitor kind exists only with prometheus-operator's CRDs.
    assert find(charted["cluster"], "ServiceMonitor") == []
    service = one(charted["cluster"], "Service", "cheiron-metrics")
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 9090, "targetPort": "metrics"}]
    # Standbys are not Ready but have metrics of their own (cheiron_leader 0).
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert run_args(one(charted["cluster"], "Deployment", "cheiron")).metrics_port == 9090

    objects = helm_template("ops", {"metrics.serviceMonitor.enabled": "true"})
    service = one(objects, "Service", "cheiron-metrics")
    monitor = one(objects, "ServiceMonitor", "cheiron")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= (
        service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"


def test_without_a_metrics_service_the_probes_keep_their_port(helm: Path) -> None:
    objects = helm_template("ops", {"metrics.enabled": "false", "metrics.port": "9100"})
    assert find(objects, "Service", "cheiron-metrics") == []
    deployment = one(objects, "Deployment", "cheiron")
    assert run_args(deployment).metrics_port == named_port(deployment, "metrics") == 9100
    assert container(deployment)["readinessProbe"]["httpGet"]["port"] == "metrics"


def test_replicas_elect_a_leader_and_one_runs_without_election(helm: Path) -> None:
    three = one(helm_template("ops", {"replicaCount": "3"}), "Deployment", "cheiron")
    assert three["spec"]["replicas"] == 3
    assert run_args(three).leader_elect

    objects = helm_template("ops", {"leaderElection.enabled": "false", "replicaCount": "3"})
    alone = one(objects, "Deployment", "cheiron")
    assert (alone["spec"]["replicas"], alone["spec"]["strategy"]) == (1, {"type": "Recreate"})
    args = run_args(alone)
    assert not args.leader_elect
    assert find(objects, "Role", "cheiron-leader-election") == []
    assert granted(objects, "ops") == required(args)


def test_log_format_reaches_the_operator(helm: Path) -> None:
    objects = helm_template("ops", {"logFormat": "json"})
    assert run_args(one(objects, "Deployment", "cheiron")).log_format == "json"


def test_ecr_allowances_reach_the_operator_and_default_to_none(helm: Path) -> None:
    plain = run_args(one(helm_template("ops", {}), "Deployment", "cheiron"))
    assert (plain.ecr_ambient_namespace, plain.ecr_role_arn, plain.ecr_endpoint_host) == (
        [],
        [],
        [],
    )
    values = {
        "ecr.ambientNamespaces[0]": "platform",
        "ecr.roleArns[0]": "arn:aws:iam::123456789012:role/pull-*",
        "ecr.endpointHosts[0]": "ecr.internal:8443",
    }
    args = run_args(one(helm_template("ops", values), "Deployment", "cheiron"))
    assert args.ecr_ambient_namespace == ["platform"]
    assert args.ecr_role_arn == ["arn:aws:iam::123456789012:role/pull-*"]
    assert args.ecr_endpoint_host == ["ecr.internal:8443"]


def test_values_file_has_every_value_the_templates_read() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    read = {
        m.group(1)
        for t in (CHART / "templates").iterdir()
        for m in re.finditer(r"\.Values\.([A-Za-z0-9_.]+)", t.read_text())
    }
    assert {"installMode", "image.tag", "webhook.failurePolicy", "metrics.port"} <= read
    for path in sorted(read):
        node = values
        for key in path.split("."):
            assert isinstance(node, dict), path
            assert key in node, f"{path} is read by a template but not in values.yaml"
            node = node[key]


def test_alerts_and_dashboard_are_opt_in_and_match_the_kustomize_copies(
    helm: Path, charted: dict[str, list[Obj]]
) -> None:
    assert find(charted["cluster"], "PrometheusRule") == []
    assert find(charted["cluster"], "ConfigMap", "cheiron-dashboard") == []
    objects = helm_template(
        "cheiron-system",
        {"metrics.prometheusRule.enabled": "true", "metrics.dashboard.enabled": "true"},
    )
    rule = one(objects, "PrometheusRule", "cheiron")
    kustomized = yaml.safe_load((CONFIG / "prometheus" / "prometheusrule.yaml").read_text())
    assert rule["spec"] == kustomized["spec"]
    alerts = [r["alert"] for r in rule["spec"]["groups"][0]["rules"]]
    assert len(alerts) == len(set(alerts)) >= 9
    dashboard = one(objects, "ConfigMap", "cheiron-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = (CONFIG / "prometheus" / "cheiron-dashboard.json").read_text()
    assert json.loads(dashboard["data"]["cheiron.json"]) == json.loads(shipped)


def test_alert_thresholds_come_from_values(helm: Path) -> None:
    values = {
        "metrics.prometheusRule.enabled": "true",
        "metrics.prometheusRule.job": "my-cheiron",
        "metrics.prometheusRule.thresholds.ecrExpiringSeconds": "7200",
        "metrics.prometheusRule.thresholds.notReadyFor": "3m",
    }
    rules = {
        r["alert"]: r
        for r in one(helm_template("ops", values), "PrometheusRule", "cheiron")["spec"]["groups"][
            0
        ]["rules"]
    }
    assert 'job="my-cheiron"' in rules["CheironOperatorDown"]["expr"]
    assert rules["CheironEcrTokenExpiringSoon"]["expr"].endswith("< 7200")
    assert rules["CheironManagerNotReady"]["for"] == "3m"


def test_monitoring_files_are_what_make_monitoring_writes() -> None:
    done = subprocess.run(
        [sys.executable, str(CHART.parents[1] / "hack" / "monitoring.py"), "--check"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_verification_values_reach_the_operator(helm: Path) -> None:
    plain = one(helm_template("ops", {}), "Deployment", "cheiron")
    args = run_args(plain)
    assert (args.verify_host, args.verify_listed_only, args.verify_ca_file) == ([], False, None)
    assert args.verify_interval == 21600
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
    values = {
        "verification.hosts[0]": "registry.internal:5000",
        "verification.listedOnly": "true",
        "verification.insecureHosts[0]": "test.internal:5000",
        "verification.caBundle": pem,
    }
    objects = helm_template("ops", values)
    deployment = one(objects, "Deployment", "cheiron")
    args = run_args(deployment)
    assert args.verify_host == ["registry.internal:5000"]
    assert args.verify_listed_only
    assert args.verify_insecure_host == ["test.internal:5000"]
    assert str(args.verify_ca_file) == "/etc/cheiron/verification/ca.crt"
    ca = one(objects, "ConfigMap", "cheiron-verification-ca")
    assert ca["data"]["ca.crt"].strip() == pem
    mounts = {m["name"]: m["mountPath"] for m in container(deployment)["volumeMounts"]}
    assert mounts["verification-ca"] == "/etc/cheiron/verification"
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["verification-ca"]["configMap"]["name"] == "cheiron-verification-ca"


def _lease_verbs() -> set[str]:
    return {
        verb
        for p in PERMISSIONS
        if p.scope is Scope.LEADER_ELECTION and p.resource == "leases"
        for verb in p.verbs
    }


@pytest.mark.parametrize("mode", MODES)
def test_the_lease_calls_run_in_the_leader_election_priority_level(
    mode: str, charted: dict[str, list[Obj]]
) -> None:
    schema = one(charted[mode], "FlowSchema")
    assert schema["apiVersion"] == "flowcontrol.apiserver.k8s.io/v1"
    spec = schema["spec"]
    assert spec["priorityLevelConfiguration"] == {"name": "leader-election"}
    # Wins over the built-in schema a ServiceAccount's requests meet otherwise.
    assert spec["matchingPrecedence"] < SERVICE_ACCOUNTS_PRECEDENCE
    (rule,) = spec["rules"]
    assert rule["subjects"] == [
        {
            "kind": "ServiceAccount",
            "serviceAccount": {"name": ACCOUNT, "namespace": "cheiron-system"},
        }
    ]
    (resources,) = rule["resourceRules"]
    assert (resources["apiGroups"], resources["resources"]) == (["coordination.k8s.io"], ["leases"])
    # Every Lease call the operator makes, and nothing else of its.
    assert set(resources["verbs"]) == _lease_verbs()
    assert "nonResourceRules" not in rule


def test_the_flow_schema_can_be_turned_off_and_goes_with_leader_election(helm: Path) -> None:
    assert (
        find(helm_template("ops", {"leaderElection.flowSchema.enabled": "false"}), "FlowSchema")
        == []
    )
    assert find(helm_template("ops", {"leaderElection.enabled": "false"}), "FlowSchema") == []
    moved = one(
        helm_template("ops", {"leaderElection.flowSchema.matchingPrecedence": "1200"}), "FlowSchema"
    )
    assert moved["spec"]["matchingPrecedence"] == 1200


def test_a_precedence_that_loses_to_the_service_accounts_schema_is_refused(helm: Path) -> None:
    done = subprocess.run(
        [str(helm), "lint", str(CHART), "--set=leaderElection.flowSchema.matchingPrecedence=9000"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert "flowSchema/matchingPrecedence" in done.stdout + done.stderr


def test_the_flow_schema_is_the_kustomize_installs(
    kustomized: dict[str, list[Obj]], charted: dict[str, list[Obj]]
) -> None:
    for mode in MODES:
        assert (
            one(charted[mode], "FlowSchema")["spec"] == one(kustomized[mode], "FlowSchema")["spec"]
        )
