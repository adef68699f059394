"""The dashboard's queries and the alerts' expressions against a real Prometheus.

Prometheus (Debian's, on loopback) scrapes an operator on the local control plane that has
done its work: managers Ready and not, an ECR token from moto, verified credentials, a backup
whose copy fails. Every dashboard query and every alert expression must then return series
with the labels its legend or annotations use, so a renamed metric or label fails here, not
in someone's Grafana.
"""

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from cheiron import API_GROUP, API_VERSION
from cheiron.devcluster import ControlPlane
from cheiron.devcluster.cluster import free_port
from tests.support.backups import PLURAL as BACKUPS
from tests.support.backups import create_backup, push_credentials
from tests.support.managers import create_manager, delete_manager, manager_body
from tests.support.moto import REGISTRY, MotoServer
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually
from tests.support.prometheus import Prometheus
from tests.support.registry import Registry

CONFIG = Path(__file__).parents[3] / "config" / "prometheus"
JOB = "cheiron-metrics"  # the chart's default `metrics.prometheusRule.job`
USER, PASSWORD = "robot", "verified-4711"


def _rules() -> dict[str, Any]:
    rule = yaml.safe_load((CONFIG / "prometheusrule.yaml").read_text())
    return {"groups": rule["spec"]["groups"]}


def _alerts() -> list[dict[str, Any]]:
    return [r for g in _rules()["groups"] for r in g["rules"]]


def _dashboard_targets() -> list[tuple[str, str, str]]:
    board = json.loads((CONFIG / "cheiron-dashboard.json").read_text())
    return [
        (p["title"], t["expr"], t["legendFormat"]) for p in board["panels"] for t in p["targets"]
    ]


@pytest.fixture(scope="module")
def operator(
    control_plane: ControlPlane,
    crds: None,
    moto: MotoServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """An operator whose AWS default chain is moto, for a cluster manager's ECR entry."""
    env = {
        "AWS_ACCESS_KEY_ID": moto.access_key_id,
        "AWS_SECRET_ACCESS_KEY": moto.secret_access_key,
        "AWS_ENDPOINT_URL_ECR": moto.url,
    }
    log = tmp_path_factory.mktemp("monitoring") / "operator.log"
    with OperatorProcess(control_plane.kubeconfig_path, log, (), env) as proc:
        yield proc


@pytest.fixture(scope="module")
def prometheus(operator: OperatorProcess) -> Iterator[Prometheus]:
    """Prometheus scraping the operator every second, evaluating the shipped alerts."""
    with Prometheus(JOB, [f"127.0.0.1:{operator.metrics_port}"], _rules()) as server:
        yield server


@pytest.fixture
def worked(
    operator: OperatorProcess,
    core: client.CoreV1Api,
    apps: client.AppsV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> Iterator[None]:
    """The operator's work: each metric the dashboard and alerts read gets its series."""
    with Registry(auth=(USER, PASSWORD)) as registry:
        ok = {"name": "ok", "registry": registry.host, "username": USER, "password": PASSWORD}
        create_manager(custom, namespace, manager_body("ready", [ok]))
        broken = {"name": "broken", "registry": "ghcr.io", "credentialsSecretRef": {"name": "no"}}
        create_manager(custom, namespace, manager_body("broken", [broken]))
        ecr = manager_body(
            f"ecr-{namespace}", [{"name": "ecr", "ecr": {"registry": REGISTRY}}], cluster=True
        )
        ecr["spec"]["target"] = {"namespaces": {"names": [namespace]}}
        create_manager(custom, None, ecr)
        # A backup whose one image cannot be copied: nothing listens where it points.
        image = f"127.0.0.1:{free_port()}/gone/app:1"
        apps.create_namespaced_deployment(namespace, _deployment("app", image))
        backups: list[str] = []
        credentials = push_credentials(core, namespace)
        create_backup(custom, backups, registry, (registry.host, None), credentials)
        try:
            yield
        finally:
            for name in backups:
                custom.delete_cluster_custom_object(API_GROUP, API_VERSION, BACKUPS, name)
            delete_manager(custom, None, f"ecr-{namespace}")


def _deployment(name: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": image}]},
            },
        },
    }


def _labels(text: str, pattern: str) -> set[str]:
    return set(re.findall(pattern, text))


def _answer(
    prometheus: Prometheus, expr: str, labels: set[str], *, including: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """The query's series once they exist, carry `labels`, and one has the `including` ones."""

    def probe() -> list[dict[str, Any]] | None:
        result = prometheus.query(expr)
        if not result or not all(labels <= set(s["metric"]) for s in result):
            return None
        wanted = (including or {}).items()
        return result if any(wanted <= s["metric"].items() for s in result) else None

    return eventually(probe, timeout=60, interval=1.0, what=f"series of {expr} with {labels}")


def test_every_dashboard_query_returns_series_with_its_legend_labels(
    prometheus: Prometheus, worked: None
) -> None:
    for title, expr, legend in _dashboard_targets():
        query = expr.replace("$__rate_interval", "1m")
        _answer(prometheus, query, _labels(legend, r"\{\{\s*(\w+)\s*\}\}"))
        assert title


def _probe(expr: str) -> str:
    """The alert's expression with its threshold let go: the series it is decided on.

    `absent(x)` becomes `x`, every comparison with a number `> -Inf`; what is left are the
    metrics and labels the alert reads, which must exist once the operator has worked.
    """
    expr = expr.strip()
    if match := re.fullmatch(r"absent\((.*)\)", expr):
        expr = match.group(1)
    return re.sub(r"\s*(==|!=|<=|>=|<|>)\s*-?[0-9.]+", " > -Inf", expr)


def test_every_alert_reads_series_that_exist_with_the_labels_it_names(
    prometheus: Prometheus, worked: None
) -> None:
    alerts = _alerts()
    assert len(alerts) >= 9
    for alert in alerts:
        text = " ".join(alert.get("annotations", {}).values())
        wanted = _labels(text, r"\$labels\.(\w+)")
        _answer(prometheus, _probe(alert["expr"]), wanted)


def test_the_alerts_for_what_went_wrong_fire_and_name_it(
    prometheus: Prometheus, worked: None, namespace: str
) -> None:
    rules = {r["alert"]: r["expr"] for r in _alerts()}
    broken = {"manager": f"ImagePullSecretManager/{namespace}/broken", "reason": "SecretNotFound"}
    _answer(prometheus, rules["CheironManagerNotReady"], set(broken), including=broken)
    failing = _answer(prometheus, rules["CheironBackupFailing"], {"backup"})
    assert all(float(s["value"][1]) >= 1 for s in failing)
    # The healthy side stays silent: one leader, a fresh token, the operator scraped.
    for healthy in ("CheironNoLeader", "CheironSeveralLeaders", "CheironOperatorDown"):
        assert prometheus.query(rules[healthy]) == [], healthy
    # moto's tokens claim to have expired in 2015 (cheiron renews them at 6 hours anyway).
    ecr = {"manager": f"ClusterImagePullSecretManager/ecr-{namespace}", "entry": "ecr"}
    _answer(prometheus, rules["CheironEcrTokenExpired"], set(ecr), including=ecr)
    assert prometheus.query(rules["CheironEcrTokenExpiringSoon"]) == []
