"""Two replicas against one control plane: one acts, the other takes over, nothing twice."""

from pathlib import Path

from kubernetes import client

from cheiron.devcluster import ControlPlane
from tests.support.managers import (
    create_manager,
    get_manager,
    inline,
    manager_body,
    set_secrets,
    wait_for_pull_secrets,
)
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually

LEASE_SECONDS = 3
# A deadline for the poll, not a measurement (bench/failover.py measures the takeover).
TAKEOVER = LEASE_SECONDS + 30


def _replica(control_plane: ControlPlane, tmp_path: Path, name: str, ns: str) -> OperatorProcess:
    return OperatorProcess(
        control_plane.kubeconfig_path,
        tmp_path / f"{name}.log",
        (
            "--leader-elect",
            "--lease-seconds",
            str(LEASE_SECONDS),
            "--operator-namespace",
            ns,
            "--namespace",
            ns,
        ),
        wait=False,
    )


def test_one_acts_the_other_takes_over(  # noqa: PLR0917 - fixtures
    control_plane: ControlPlane,
    crds: None,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
    tmp_path: Path,
) -> None:
    first = _replica(control_plane, tmp_path, "first", namespace)
    second = _replica(control_plane, tmp_path, "second", namespace)
    with first:
        eventually(first.ready, timeout=60, what="first replica leads")
        with second:
            eventually(lambda: "waiting to lead" in second.logs(), what="second replica waits")
            assert not second.ready()
            create_manager(custom, namespace, manager_body("m", [inline("a")]))
            wait_for_pull_secrets(core, namespace, ["a"])
            # The ServiceAccount lists "a" before the leader has marked it reconciled and
            # written its last status: a crash before those would leave them to the next.
            eventually(
                lambda: (
                    (get_manager(custom, namespace, "m").get("status") or {}).get(
                        "reconciledObjects"
                    )
                    == 1
                ),
                what="the first leader converged (its last status written)",
            )
            assert second.passes() == [], "the standby acted"
            lease = client.CoordinationV1Api(core.api_client).read_namespaced_lease(
                "cheiron", namespace
            )
            assert lease.spec.holder_identity in first.logs()
            secret_version = core.read_namespaced_secret("a", namespace).metadata.resource_version

            # A crash: no release, so the standby waits out the lease, then leads.
            first.kill()
            eventually(second.ready, timeout=TAKEOVER, what="second replica leads")
            passes = eventually(second.passes, what="the new leader reconciles")
            # Converged already: the new leader writes nothing the first one wrote.
            assert passes[0] == 0
            assert (
                core.read_namespaced_secret("a", namespace).metadata.resource_version
                == secret_version
            )
            # And it acts on changes.
            set_secrets(custom, namespace, "m", [inline("a"), inline("b", "quay.io")])
            wait_for_pull_secrets(core, namespace, ["a", "b"])

            # A clean stop releases the Lease: a third replica leads without waiting it out.
            third = _replica(control_plane, tmp_path, "third", namespace)
            with third:
                eventually(lambda: "waiting to lead" in third.logs(), what="third waits")
                second.stop()
                eventually(third.ready, timeout=TAKEOVER, what="third replica leads")
