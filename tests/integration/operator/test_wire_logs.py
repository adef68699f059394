"""What libraries log of AWS traffic at DEBUG reaches the operator's log redacted (issue 12)."""

import re
import uuid
from pathlib import Path
from typing import Any

from kubernetes import client

from cheiron.devcluster import ControlPlane
from tests.support.managers import (
    create_manager,
    delete_manager,
    get_manager,
    manager_body,
    wait_for_pull_secrets,
)
from tests.support.moto import REGISTRY, ROLE_ARN, TOKEN_PASSWORD, MotoServer
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually


def _entries(custom: client.CustomObjectsApi, name: str) -> list[dict[str, Any]]:
    return list((get_manager(custom, None, name).get("status") or {}).get("entries", []))


def test_sts_and_ecr_traffic_logged_at_debug_shows_no_key_or_token(  # noqa: PLR0917 - fixtures
    control_plane: ControlPlane,
    crds: None,
    moto: MotoServer,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
    tmp_path: Path,
) -> None:
    """At DEBUG botocore prints signed headers and STS's reply; the log keeps none of them."""
    env = {
        "AWS_ACCESS_KEY_ID": moto.access_key_id,
        "AWS_SECRET_ACCESS_KEY": moto.secret_access_key,
        "AWS_ENDPOINT_URL_ECR": moto.url,
        "AWS_ENDPOINT_URL_STS": moto.url,
    }
    args = ("-v", "--debug-logger", "botocore", "--debug-logger", "urllib3")
    name = f"assumed-{uuid.uuid4().hex[:6]}"
    body = manager_body(
        name, [{"name": "ecr", "ecr": {"registry": REGISTRY, "roleArn": ROLE_ARN}}], cluster=True
    )
    body["spec"]["target"] = {"namespaces": {"names": [namespace]}}
    with OperatorProcess(control_plane.kubeconfig_path, tmp_path / "op.log", args, env) as proc:
        create_manager(custom, None, body)
        try:
            wait_for_pull_secrets(core, namespace, ["ecr"])
            # Status may follow the marks by a few seconds (the report after a marking pass).
            eventually(
                lambda: [e["ready"] for e in _entries(custom, name)] == [True],
                what="the entry ready in status",
            )
        finally:
            delete_manager(custom, None, name)
        logs = proc.logs()
    # Not vacuous: the wire traffic was logged, the secrets in it redacted.
    assert "<SessionToken><redacted></SessionToken>" in logs
    assert re.search(r"X-Amz-Security-Token'?: b?'<redacted>'", logs)
    for secret in (moto.secret_access_key, TOKEN_PASSWORD):
        assert secret not in logs
    for leaked in (
        r"<(SecretAccessKey|SessionToken)>(?!<redacted>)",
        r"X-Amz-Security-Token'?: b?'(?!<redacted>)",
    ):
        assert not re.search(leaked, logs), leaked
