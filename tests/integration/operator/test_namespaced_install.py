"""`cheiron run --namespace NS` acts in NS only: managers elsewhere are left alone."""

from pathlib import Path

from kubernetes import client

from cheiron.devcluster import ControlPlane
from tests.support.managers import (
    create_manager,
    get_manager,
    inline,
    manager_body,
    pull_secrets,
    wait_for_pull_secrets,
)
from tests.support.operator import OperatorProcess


def test_namespaced_operator_ignores_other_namespaces(
    *,
    control_plane: ControlPlane,
    crds: None,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
    tmp_path: Path,
) -> None:
    other = f"{namespace}-other"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=other)))
    try:
        with OperatorProcess(
            control_plane.kubeconfig_path, tmp_path / "op.log", ("--namespace", namespace)
        ):
            create_manager(custom, other, manager_body("m", [inline("b")]))
            create_manager(custom, namespace, manager_body("m", [inline("a")]))
            wait_for_pull_secrets(core, namespace, ["a"])
            # By the time the watched namespace converged, the other one would have too.
            assert pull_secrets(core, other) == []
            assert "status" not in get_manager(custom, other, "m")
            assert "b" not in [s.metadata.name for s in core.list_namespaced_secret(other).items]
    finally:
        core.delete_namespace(other)
