"""`kubectl get` reads well: counts and short reasons, not raw JSON lists."""

import subprocess

from kubernetes import client

from cheiron.devcluster import ControlPlane
from tests.support.managers import create_manager, inline, manager_body, wait_until_ready
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually
from tests.support.tools import kubectl


def _get(plane: ControlPlane, namespace: str, *args: str) -> list[list[str]]:
    done = subprocess.run(
        [str(kubectl()), "--kubeconfig", str(plane.kubeconfig_path), "-n", namespace, "get", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return [line.split() for line in done.stdout.splitlines()]


def test_columns_show_counts_and_the_ready_reason(
    operator: OperatorProcess,
    control_plane: ControlPlane,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    body = manager_body("m", [inline("a"), inline("b", "quay.io")])
    create_manager(custom, namespace, body)
    wait_until_ready(custom, namespace, "m")
    broken = manager_body(
        "broken", [{"name": "x", "registry": "ghcr.io", "credentialsSecretRef": {"name": "no"}}]
    )
    create_manager(custom, namespace, broken)

    def table() -> list[list[str]] | None:
        rows = _get(control_plane, namespace, "ipsm", "-o", "wide", "--sort-by=.metadata.name")
        done = len(rows) == 3 and rows[1][2] == "False" and rows[2][6] == "1"
        return rows if done else None

    header, failing, ready = eventually(table, what="both managers in kubectl get")
    assert header == ["NAME", "MODE", "READY", "REASON", "SECRETS", "TARGETS", "RECONCILED", "AGE"]
    assert failing[:4] == ["broken", "ServiceAccount", "False", "SecretNotFound"]
    assert ready[:7] == ["m", "ServiceAccount", "True", "Reconciled", "2", "1", "1"]
    narrow = _get(control_plane, namespace, "ipsm")
    assert "REASON" not in narrow[0]
