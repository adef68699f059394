"""The operator rides out its apiserver restarting and its own SIGKILL (issue 12).

A control plane of this module's own: restarting the session's apiserver would pull the
ground from under every other test's clients.
"""

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from kubernetes import client, config

from cheiron.devcluster import ControlPlane
from tests.support import crds as crd_support
from tests.support.managers import (
    create_manager,
    inline,
    manager_body,
    pull_password,
    pull_secrets,
    set_secrets,
    wait_for_pull_secrets,
)
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually

ACCOUNTS = 1000


@pytest.fixture(scope="module")
def plane() -> Iterator[ControlPlane]:
    """A control plane for this module alone, with the CRDs."""
    with crd_support.own_control_plane() as cp:
        yield cp


@pytest.fixture
def api(plane: ControlPlane) -> client.ApiClient:
    """A fresh admin client of this module's apiserver."""
    return config.new_client_from_config(config_file=str(plane.kubeconfig_path))


def _namespace(core: client.CoreV1Api, name: str) -> str:
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    eventually(lambda: _exists(core, name, "default"), what=f"{name}/default")
    return name


def _exists(core: client.CoreV1Api, namespace: str, account: str) -> bool:
    try:
        core.read_namespaced_service_account(account, namespace)
    except client.ApiException as e:
        if e.status == 404:
            return False
        raise
    return True


def test_an_apiserver_restart_is_ridden_out_without_restarting_the_operator(
    plane: ControlPlane, api: client.ApiClient, tmp_path: Path
) -> None:
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    first = _namespace(core, "restart-a")
    with OperatorProcess(plane.kubeconfig_path, tmp_path / "operator.log") as operator:
        create_manager(custom, first, manager_body("m", [inline("reg", password="one")]))
        wait_for_pull_secrets(core, first, ["reg"])

        plane.restart_apiserver(down_seconds=5)

        # Every watch dropped and came back: a rotation, a new account, a new manager.
        api = config.new_client_from_config(config_file=str(plane.kubeconfig_path))
        core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
        set_secrets(custom, first, "m", [inline("reg", password="two")])
        eventually(lambda: pull_password(core, first, "reg") == "two", what="the rotation")
        core.create_namespaced_service_account(
            first, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="late"))
        )
        wait_for_pull_secrets(core, first, ["reg"], account="late")
        second = _namespace(core, "restart-b")
        create_manager(custom, second, manager_body("m", [inline("other")]))
        wait_for_pull_secrets(core, second, ["other"])
        assert operator.exit_code() is None, "the operator exited"


def test_sigkill_while_marking_a_thousand_accounts_loses_and_doubles_nothing(
    plane: ControlPlane, api: client.ApiClient, tmp_path: Path
) -> None:
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    ns = _namespace(core, "sigkill")
    names = [f"sa-{i:04d}" for i in range(ACCOUNTS)]

    def account(name: str) -> None:
        # Every account already lists a Secret of its user's: it must stay, first, once.
        body = client.V1ServiceAccount(
            metadata=client.V1ObjectMeta(name=name),
            image_pull_secrets=[client.V1LocalObjectReference(name="users-own")],
        )
        core.create_namespaced_service_account(ns, body)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(account, names))

    def listing() -> int:
        accounts = core.list_namespaced_service_account(ns).items
        return sum(any(r.name == "reg" for r in a.image_pull_secrets or []) for a in accounts)

    log = tmp_path / "operator.log"
    with OperatorProcess(plane.kubeconfig_path, log) as operator:
        create_manager(custom, ns, manager_body("m", [inline("reg")]))
        deadline = time.monotonic() + 120
        while (done := listing()) == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        operator.kill()
    assert done > 0, "the operator never started marking"
    assert listing() < ACCOUNTS + 1, "the kill came after the marking, not in the middle"

    with OperatorProcess(plane.kubeconfig_path, log):
        eventually(lambda: listing() == ACCOUNTS + 1, timeout=300, what="every account lists it")
    for sa in core.list_namespaced_service_account(ns).items:
        refs = [r.name for r in sa.image_pull_secrets or []]
        if sa.metadata.name == "default":
            assert refs == ["reg"]
        else:
            assert refs == ["users-own", "reg"], sa.metadata.name
    assert pull_secrets(core, ns, names[0]) == ["users-own", "reg"]
