"""A restarted operator trusts the verdicts status recorded: it asks no registry, writes nothing."""

from pathlib import Path

from kubernetes import client

from cheiron.devcluster import ControlPlane
from tests.support.managers import (
    create_manager,
    get_manager,
    manager_body,
    ready_condition,
    resource_versions,
)
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually
from tests.support.registry import Registry
from tests.support.token_auth import TokenServer

USER, PASSWORD = "robot", "restart-pass-4711"


def test_a_restart_asks_no_registry_and_writes_nothing(
    *,
    control_plane: ControlPlane,
    crds: None,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
    tmp_path: Path,
) -> None:
    key = f"ImagePullSecretManager/{namespace}/m"
    entry = {"name": "pull", "registry": "", "username": USER, "password": PASSWORD}
    with TokenServer(USER, PASSWORD) as tokens, Registry(token=tokens) as registry:
        entry["registry"] = registry.host
        with OperatorProcess(control_plane.kubeconfig_path, tmp_path / "first.log"):
            create_manager(custom, namespace, manager_body("m", [entry]))
            eventually(
                lambda: (
                    (ready_condition(get_manager(custom, namespace, "m")) or {}).get("status")
                    == "True"
                ),
                what="manager Ready",
            )
        status = get_manager(custom, namespace, "m")["status"]
        assert status["entries"][0]["verification"]["result"] == "Verified"
        asked = tokens.requests
        assert asked == 1
        before = resource_versions(core, custom, namespace)

        second = OperatorProcess(
            control_plane.kubeconfig_path, tmp_path / "second.log", ("--resync-seconds", "1")
        )
        with second:
            assert second.first_passes(key) == [0, 0, 0]
        assert tokens.requests == asked
        assert resource_versions(core, custom, namespace) == before
