"""`cheiron plan` on the real control plane: says what would change and writes nothing."""

import json
import subprocess
import sys
from pathlib import Path

from kubernetes import client

from cheiron.devcluster import ControlPlane
from tests.support.managers import (
    create_manager,
    inline,
    manager_body,
    resource_versions,
    wait_for_pull_secrets,
)
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually


def _plan(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cheiron", "plan", "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_plan_before_and_after_the_operator(  # noqa: PLR0917 - fixtures
    control_plane: ControlPlane,
    crds: None,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
    tmp_path: Path,
) -> None:
    eventually(lambda: core.read_namespaced_service_account("default", namespace))
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="theirs"),
            type="kubernetes.io/dockerconfigjson",
            string_data={".dockerconfigjson": '{"auths":{}}'},
        ),
    )
    entries = [
        inline("a", password="plan-password-never-printed"),
        inline("theirs", "quay.io"),
        {"name": "broken", "registry": "gcr.io", "credentialsSecretRef": {"name": "nope"}},
    ]
    create_manager(custom, namespace, manager_body("m", entries))
    before = resource_versions(core, custom, namespace)

    result = _plan(
        control_plane.kubeconfig_path, "--namespace", namespace, "-o", "json", "--exit-code"
    )
    assert result.returncode == 2, result.stderr
    assert "plan-password-never-printed" not in result.stdout + result.stderr
    (plan,) = json.loads(result.stdout)["managers"]
    assert plan["manager"] == f"ImagePullSecretManager/{namespace}/m"
    assert plan["secrets"]["create"] == [f"{namespace}/a"]
    assert plan["secrets"]["conflict"] == [f"{namespace}/theirs"]
    assert [e["reason"] for e in plan["entries"] if not e["ready"]] == ["SecretNotFound"]
    assert {
        "name": f"{namespace}/default",
        "imagePullSecrets": {"before": [], "after": ["a"]},
    } in plan["serviceAccounts"]
    # A dry run: nothing in the namespace changed.
    assert resource_versions(core, custom, namespace) == before

    text = _plan(control_plane.kubeconfig_path, "--namespace", namespace).stdout
    assert f"Secret {namespace}/a: create" in text
    assert f"ServiceAccount {namespace}/default: imagePullSecrets [] -> ['a']" in text

    with OperatorProcess(control_plane.kubeconfig_path, tmp_path / "operator.log"):
        wait_for_pull_secrets(core, namespace, ["a"])
        eventually(
            lambda: (
                _plan(
                    control_plane.kubeconfig_path, "--namespace", namespace, "--exit-code"
                ).returncode
                == 0
            ),
            what="plan reports no changes once converged",
        )
    text = _plan(control_plane.kubeconfig_path, "--namespace", namespace).stdout
    assert f"ImagePullSecretManager/{namespace}/m: no changes" in text
    assert "entry broken: fails (SecretNotFound)" in text
