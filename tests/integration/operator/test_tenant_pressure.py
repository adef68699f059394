"""One hostile namespace cannot run the operator out of memory, at start or after a restart.

Before, the Secret informer listed 500 whole Secrets a page (any type but a few), every label
of every ServiceAccount was kept, and each entry held its own copy of its payload: with the
objects of tests/support/pressure.py the operator peaked at 746 MiB after a restart, and the
chart's limit (512 MiB) killed it at every start, so every namespace lost its rotations.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from cheiron.devcluster import ControlPlane
from tests.support import crds as crd_support
from tests.support.cgroup import memory_cgroup
from tests.support.managers import (
    create_manager,
    inline,
    manager_body,
    pull_password,
    set_secrets,
    wait_for_pull_secrets,
)
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually
from tests.support.pressure import MIB, Pressure, churn, create

LIMIT = 256 * MIB


@pytest.fixture(scope="module")
def plane() -> Iterator[ControlPlane]:
    """A control plane of this module's own: its etcd takes hundreds of MiB of tenants' data."""
    with crd_support.own_control_plane() as cp:
        yield cp


def test_a_hostile_namespace_leaves_the_operator_serving_under_its_limit(
    plane: ControlPlane, tmp_path: Path
) -> None:
    api = config.new_client_from_config(config_file=str(plane.kubeconfig_path))
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="served")))
    create_manager(custom, "served", manager_body("m", [inline("reg", password="one")]))
    create(core, custom, "hostile", Pressure())
    log = tmp_path / "operator.log"
    with memory_cgroup(LIMIT) as cgroup, churn(core, "hostile-secrets", MIB) as churning:
        assert churning.wait(60), "the tenant's rewrites never went through"
        with OperatorProcess(plane.kubeconfig_path, log, preexec=cgroup.enter) as first:
            wait_for_pull_secrets(core, "served", ["reg"], timeout=180)
            first.kill()  # a crash: the next start lists everything again
        # The restart is where the old operator died: every list at once, under the limit.
        with OperatorProcess(plane.kubeconfig_path, log, preexec=cgroup.enter) as second:
            set_secrets(custom, "served", "m", [inline("reg", password="two")])
            eventually(
                lambda: pull_password(core, "served", "reg") == "two",
                timeout=180,
                what="the rotation",
            )
            assert second.exit_code() is None
        peak = cgroup.peak_bytes
        kills = cgroup.oom_kills
    print(f"operator peak under the tenant's objects: {peak / MIB:.0f} MiB")
    assert kills == 0, f"the operator was OOM-killed {kills} times (peak {peak / MIB:.0f} MiB)"
    assert peak < LIMIT
