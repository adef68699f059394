"""Once converged, resyncs and a restarted operator write nothing."""

from pathlib import Path

from kubernetes import client

from cheiron.devcluster import ControlPlane
from tests.support.managers import (
    create_manager,
    get_manager,
    inline,
    manager_body,
    ready_condition,
    resource_versions,
    wait_for_pull_secrets,
)
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually


def test_restart_and_resync_write_nothing(
    *,
    control_plane: ControlPlane,
    crds: None,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
    tmp_path: Path,
) -> None:
    key = f"ImagePullSecretManager/{namespace}/m"
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="app"))
    )
    with OperatorProcess(control_plane.kubeconfig_path, tmp_path / "first.log"):
        create_manager(custom, namespace, manager_body("m", [inline("a"), inline("b", "quay.io")]))
        wait_for_pull_secrets(core, namespace, ["a", "b"], account="app")
        wait_for_pull_secrets(core, namespace, ["a", "b"])
        eventually(
            lambda: (
                (ready_condition(get_manager(custom, namespace, "m")) or {}).get("status") == "True"
            ),
            what="manager Ready",
        )
        # Both accounts counted as they get reconciled, not at the next (10 min) resync.
        eventually(
            lambda: get_manager(custom, namespace, "m")["status"].get("reconciledObjects") == 2,
            what="status.reconciledObjects == 2",
        )
    before = resource_versions(core, custom, namespace)
    status_before = get_manager(custom, namespace, "m")["status"]

    second = OperatorProcess(
        control_plane.kubeconfig_path, tmp_path / "second.log", ("--resync-seconds", "1")
    )
    with second:
        # The first pass after the restart and at least two resyncs, each with zero writes.
        assert second.first_passes(key) == [0, 0, 0]
        # The watches were live too: a new account is still served.
        core.create_namespaced_service_account(
            namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="sentinel"))
        )
        wait_for_pull_secrets(core, namespace, ["a", "b"], account="sentinel")
        # Counts follow a second after the change (one status write for a burst of them).
        status = eventually(
            lambda: (
                (s := get_manager(custom, namespace, "m")["status"])["reconciledObjects"] == 3 and s
            ),
            what="the sentinel counted",
        )

    # The sentinel's patch is the only change; the manager's status counts it, nothing else.
    after = resource_versions(core, custom, namespace)
    after.pop("sa/sentinel")
    assert {k: v for k, v in after.items() if k != "manager"} == {
        k: v for k, v in before.items() if k != "manager"
    }
    assert {k: v for k, v in status.items() if k != "reconciledObjects"} == {
        k: v for k, v in status_before.items() if k != "reconciledObjects"
    }


def test_accounts_created_while_the_operator_starts_are_served(
    *,
    control_plane: ControlPlane,
    crds: None,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
    tmp_path: Path,
) -> None:
    create_manager(custom, namespace, manager_body("m", [inline("a")]))
    starting = OperatorProcess(control_plane.kubeconfig_path, tmp_path / "op.log", wait=False)
    with starting:
        # One account before the informers list, a stream of them while they list and
        # start to watch: none may fall in the gap between the two.
        names = [f"early-{i}" for i in range(20)]
        for name in names:
            core.create_namespaced_service_account(
                namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name))
            )
        eventually(starting.ready, timeout=60, what="/readyz after the caches synced")
        for name in names:
            wait_for_pull_secrets(core, namespace, ["a"], account=name)
