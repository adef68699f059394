"""Two replicas against one control plane: one acts, the other takes over, nothing twice."""

from pathlib import Path
from urllib.parse import urlsplit

import yaml
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
from tests.support.proxy import relay

LEASE_SECONDS = 6  # a renew deadline of 4 s: room for a loaded machine
# A deadline for the poll, not a measurement (bench/failover.py measures the takeover).
TAKEOVER = LEASE_SECONDS + 30


def _replica(
    control_plane: ControlPlane,
    tmp_path: Path,
    name: str,
    ns: str,
    kubeconfig: Path | None = None,
) -> OperatorProcess:
    return OperatorProcess(
        kubeconfig or control_plane.kubeconfig_path,
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


def _through(kubeconfig: Path, port: int, path: Path) -> Path:
    """The kubeconfig with its server moved to a loopback port (the certificate still fits)."""
    config = yaml.safe_load(kubeconfig.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{port}"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_leader_cut_off_from_the_apiserver_stops_before_a_standby_leads(
    control_plane: ControlPlane, crds: None, namespace: str, tmp_path: Path
) -> None:
    """A hung network path to the apiserver: the leader's renewals time out and it exits.

    Before, a Lease call had no timeout: the leader's renewal hung forever, so it went on
    acting after the standby took the Lease over.
    """
    server = urlsplit(
        yaml.safe_load(control_plane.kubeconfig_path.read_text())["clusters"][0]["cluster"][
            "server"
        ]
    )
    with relay((server.hostname or "127.0.0.1", server.port or 443)) as path:
        cut = _through(control_plane.kubeconfig_path, path.port, tmp_path / "relayed.kubeconfig")
        first = _replica(control_plane, tmp_path, "first", namespace, cut)
        second = _replica(control_plane, tmp_path, "second", namespace)
        with first:
            eventually(first.ready, timeout=60, what="first replica leads")
            with second:
                eventually(lambda: "waiting to lead" in second.logs(), what="second waits")
                path.freeze()
                eventually(second.ready, timeout=TAKEOVER, what="second replica leads")
                # The cut-off leader had given up by then: never two acting at once.
                assert first.exit_code() == 1, "the old leader still runs beside the new one"
                assert "could not renew the leader Lease in time" in first.logs()
