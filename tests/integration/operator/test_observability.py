"""Metrics by scraping, probes, JSON logs, and no credential in the logs of a verbose run."""

import json
import re
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client

from cheiron.devcluster import ControlPlane
from tests.support.managers import (
    create_manager,
    get_manager,
    inline,
    manager_body,
    ready_condition,
    wait_for_pull_secrets,
)
from tests.support.moto import ACCOUNT, REGION, TOKEN_PASSWORD, MotoServer
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually

INLINE_PASSWORD = f"inline-{uuid.uuid4().hex}"
REF_PASSWORD = f"ref-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def verbose_operator(
    control_plane: ControlPlane,
    crds: None,
    moto: MotoServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """An operator logging at debug level as JSON, where kopf prints whole objects."""
    log_path = tmp_path_factory.mktemp("operator") / "operator.log"
    host = moto.url.removeprefix("http://")
    with OperatorProcess(
        control_plane.kubeconfig_path,
        log_path,
        ("-v", "--log-format", "json", "--ecr-endpoint-host", host),
    ) as proc:
        yield proc


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _sample(text: str, metric: str, /, **labels: str) -> float | None:
    """The value of one series in Prometheus' text format, or None."""
    for line in text.splitlines():
        if not line.startswith(metric + "{") and not line.startswith(metric + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_metrics_probes_and_logs(
    verbose_operator: OperatorProcess,
    moto: MotoServer,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="creds"),
            string_data={
                "username": "robot",
                "password": REF_PASSWORD,
                "accessKeyID": moto.access_key_id,
                "secretKey": moto.secret_access_key,
            },
        ),
    )
    entries = [
        inline("inline", "ghcr.io", password=INLINE_PASSWORD),
        {"name": "ref", "registry": "quay.io", "credentialsSecretRef": {"name": "creds"}},
        {"name": "missing", "registry": "gcr.io", "credentialsSecretRef": {"name": "nope"}},
        {
            "name": "ecr",
            "ecr": {
                "accountID": ACCOUNT,
                "region": REGION,
                "credentialsSecretRef": {"name": "creds"},
                "endpointURL": moto.url,
            },
        },
    ]
    create_manager(custom, namespace, manager_body("m", entries))
    wait_for_pull_secrets(core, namespace, ["ecr", "inline", "ref"])
    eventually(
        lambda: (
            (ready_condition(get_manager(custom, namespace, "m")) or {}).get("reason")
            == "SecretNotFound"
        ),
        what="the broken entry reported",
    )
    key = f"ImagePullSecretManager/{namespace}/m"

    def scraped() -> str | None:
        status, text = _get(f"{verbose_operator.http}/metrics")
        ready = _sample(text, "cheiron_managed_objects", manager=key, kind="ServiceAccount")
        return text if status == 200 and ready == 1 else None

    text = eventually(scraped, what="metrics with the reconciled ServiceAccount")
    assert _sample(text, "cheiron_secrets_created_total", namespace=namespace, name="inline") == 1
    assert _sample(text, "cheiron_managed_objects", manager=key, kind="Secret") == 3
    assert (_sample(text, "cheiron_secret_renewals_total") or 0) >= 1
    assert (_sample(text, "cheiron_reconcile_total", controller="manager", result="ok") or 0) > 0
    assert (_sample(text, "cheiron_reconcile_total", controller="serviceaccount") or 0) > 0
    assert (
        _sample(text, "cheiron_reconcile_duration_seconds_count", controller="manager") or 0
    ) > 0
    assert (
        _sample(text, "cheiron_errors_total", controller="manager", reason="SecretNotFound") or 0
    ) >= 1
    # moto's tokens claim a 2015 expiry: the gauge says how overdue, in seconds.
    expiry = _sample(text, "cheiron_ecr_token_expiry_seconds", manager=key, entry="ecr")
    assert expiry is not None
    assert expiry < 0
    assert _sample(text, "cheiron_leader") == 1
    # Degraded (one entry fails): no successful sync yet.
    assert _sample(text, "cheiron_last_successful_sync_timestamp_seconds", manager=key) is None
    assert _get(f"{verbose_operator.http}/healthz")[0] == 200
    assert _get(f"{verbose_operator.http}/readyz")[0] == 200

    logs = verbose_operator.logs()
    lines = [line for line in logs.splitlines() if line.startswith("{")]
    assert len(lines) > 50, "a verbose run logs plenty"
    for line in lines:
        record = json.loads(line)
        assert {"time", "level", "logger", "message"} <= record.keys()
    assert any(json.loads(line)["logger"].startswith("kopf") for line in lines)
    for secret in (
        INLINE_PASSWORD,
        REF_PASSWORD,
        moto.secret_access_key,
        TOKEN_PASSWORD,
    ):
        assert secret not in logs
    # Nor in the manager's own metadata: kopf keeps no copy of the spec there.
    assert INLINE_PASSWORD not in json.dumps(get_manager(custom, namespace, "m")["metadata"])


def test_a_spec_copy_left_by_an_earlier_version_is_removed(
    verbose_operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    """Earlier versions let kopf copy each spec, inline passwords too, into an annotation."""
    legacy = "cheiron.anny.co/last-handled-configuration"
    body = manager_body("old", [inline("a", password=INLINE_PASSWORD)])
    body["metadata"]["annotations"] = {legacy: json.dumps({"spec": body["spec"]})}
    create_manager(custom, namespace, body)
    wait_for_pull_secrets(core, namespace, ["a"])
    eventually(
        lambda: (
            legacy
            not in (get_manager(custom, namespace, "old")["metadata"].get("annotations") or {})
        ),
        what="the legacy spec copy removed",
    )
