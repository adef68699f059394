"""The rendered installs on the real control plane, the operator running as its own account.

Only what an install gives the operator is applied (CRDs, its namespace and ServiceAccount,
RBAC): there is no kubelet, so the operator runs as a local process with a token of that
ServiceAccount and the Deployment's own command line, adapted to run off-cluster.
"""

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from cheiron import API_GROUP, API_VERSION
from cheiron.cli import build_parser
from cheiron.devcluster import ControlPlane
from cheiron.devcluster.cluster import free_port
from tests.support import crds as crd_support
from tests.support import tools
from tests.support.managers import (
    CLUSTER_PLURAL,
    create_manager,
    delete_manager,
    get_manager,
    inline,
    manager_body,
    pull_secrets,
)
from tests.support.manifests import CONFIG, Obj, container, kustomize, kustomize_in, one
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually, gone

# What an install gives the operator's identity; Deployment and Services need a kubelet.
APPLIED = {
    "CustomResourceDefinition",
    "Namespace",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
}
WEBHOOK_CONFIGURATION = "cheiron"
FORBIDDEN = 403


@pytest.fixture(scope="module")
def kubectl() -> Path:
    """The control plane's kubectl, for kustomize and apply."""
    return tools.kubectl()


def _apply(plane: ControlPlane, kubectl: Path, objects: list[Obj]) -> list[Obj]:
    """Server-side apply the install's RBAC, namespace and CRDs as the admin; returns them."""
    applied = [o for o in objects if o["kind"] in APPLIED]
    subprocess.run(
        [
            str(kubectl),
            "--kubeconfig",
            str(plane.kubeconfig_path),
            "apply",
            "--server-side",
            "--force-conflicts",  # the session's `crds` fixture may have created the CRDs
            "--field-manager=cheiron-install-test",
            "-f",
            "-",
        ],
        input=yaml.safe_dump_all(applied),
        check=True,
        capture_output=True,
        text=True,
    )
    return applied


def _remove(api: client.ApiClient, applied: list[Obj]) -> None:
    """Delete the cluster-scoped RBAC the install created (namespaces go on their own)."""
    rbac = client.RbacAuthorizationV1Api(api)
    delete = {
        "ClusterRole": rbac.delete_cluster_role,
        "ClusterRoleBinding": rbac.delete_cluster_role_binding,
    }
    for obj in applied:
        if obj["kind"] in delete:
            try:
                delete[obj["kind"]](obj["metadata"]["name"])
            except ApiException as e:
                if e.status != 404:
                    raise


def _account_kubeconfig(plane: ControlPlane, api: client.ApiClient, namespace: str) -> Path:
    """A kubeconfig of ServiceAccount cheiron: a TokenRequest token and the cluster's CA."""
    token = (
        client.CoreV1Api(api)
        .create_namespaced_service_account_token(
            "cheiron",
            namespace,
            client.AuthenticationV1TokenRequest(
                spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
            ),
        )
        .status.token
    )
    admin = yaml.safe_load(plane.kubeconfig_path.read_text())
    cluster = admin["clusters"][0]["cluster"]
    path = plane.kubeconfig_path.parent / f"cheiron-{namespace}-{uuid.uuid4().hex[:6]}.kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "local",
                        "cluster": {
                            "server": cluster["server"],
                            "certificate-authority-data": cluster["certificate-authority-data"],
                        },
                    }
                ],
                "users": [{"name": "cheiron", "user": {"token": token}}],
                "contexts": [
                    {"name": "cheiron", "context": {"cluster": "local", "user": "cheiron"}}
                ],
                "current-context": "cheiron",
            }
        )
    )
    path.chmod(0o600)
    return path


def _local_args(deployment: Obj) -> tuple[str, ...]:
    """The Deployment's command line, off-cluster.

    The kubelet's $(POD_NAMESPACE) is expanded; OperatorProcess serves metrics, /healthz and
    /readyz on a free loopback port (its flags come first, and argparse would take the
    Deployment's port, the last); the apiserver cannot reach a Service here, so the webhook is
    called by URL on loopback (the configuration is still written by the operator, with its
    own rights).
    """
    namespace = deployment["metadata"]["namespace"]
    args = [a.replace("$(POD_NAMESPACE)", namespace) for a in container(deployment)["args"]]
    assert args.pop(0) == "run"
    local: list[str] = ["--operator-namespace", namespace]
    dropped = {
        "--liveness",
        "--metrics-port",
        "--metrics-host",
        "--webhook-listen",
        "--webhook-service",
    }
    while args:
        flag = args.pop(0)
        if flag in dropped:
            args.pop(0)
        elif flag == "--webhook-port":
            args.pop(0)
            local += ["--webhook-port", str(free_port()), "--webhook-host", "127.0.0.1"]
        else:
            local.append(flag)
    return tuple(local)


def _no_forbidden(proc: OperatorProcess) -> None:
    logs = proc.logs()
    assert "Forbidden" not in logs, f"the operator was refused something:\n{logs[-4000:]}"


def _lease(api: client.ApiClient, args: tuple[str, ...]) -> client.V1Lease:
    """The leader Lease the operator with these arguments competes for."""
    parsed = build_parser().parse_args(["run", *args])
    return client.CoordinationV1Api(api).read_namespaced_lease(
        parsed.lease_name, parsed.operator_namespace
    )


def _leads(api: client.ApiClient, proc: OperatorProcess) -> str:
    """Wait until the operator holds the Lease (created or taken with its own rights)."""
    assert "--leader-elect" in proc.args
    eventually(proc.ready, what="the operator leads (/readyz)")
    holder: str = _lease(api, proc.args).spec.holder_identity
    assert f"leading as {holder}" in proc.logs()
    return holder


def _released(api: client.ApiClient, proc: OperatorProcess) -> None:
    """A clean stop left the Lease without holder, for a standby to take at once."""
    assert _lease(api, proc.args).spec.holder_identity is None, proc.logs()[-4000:]


@pytest.fixture
def cluster_install(
    control_plane: ControlPlane, api_client: client.ApiClient, kubectl: Path
) -> Iterator[list[Obj]]:
    """config/cluster rendered and applied (without Deployment and webhook objects)."""
    objects = kustomize(CONFIG / "cluster")
    applied = _apply(control_plane, kubectl, objects)
    crd_support.established(api_client)
    yield objects
    _remove(api_client, applied)
    client.CoreV1Api(api_client).delete_namespace("cheiron-system")


def test_cluster_install_serves_a_cluster_manager_as_its_own_account(
    *,
    control_plane: ControlPlane,
    api_client: client.ApiClient,
    core: client.CoreV1Api,
    cluster_install: list[Obj],
    namespace: str,
    tmp_path: Path,
) -> None:
    deployment = one(cluster_install, "Deployment", "cheiron")
    account_ns = deployment["metadata"]["namespace"]
    kubeconfig = _account_kubeconfig(control_plane, api_client, account_ns)
    args = _local_args(deployment)
    assert "--all-namespaces" in args
    custom = client.CustomObjectsApi(api_client)
    admission = client.AdmissionregistrationV1Api(api_client)
    name = f"install-{uuid.uuid4().hex[:6]}"
    manager = manager_body(name, [inline("ghcr-pull")], cluster=True)
    # Only this test's namespace: other tests' namespaces are not this test's business.
    manager["spec"]["target"] = {"namespaces": {"names": [namespace]}}
    proc = OperatorProcess(kubeconfig, tmp_path / "operator.log", args)
    try:
        with proc:
            first_leader = _leads(api_client, proc)
            first = eventually(
                lambda: admission.read_mutating_webhook_configuration(WEBHOOK_CONFIGURATION),
                what="webhook configuration written by the operator",
            )
            create_manager(custom, None, manager)
            secret = eventually(
                lambda: core.read_namespaced_secret("ghcr-pull", namespace), what="pull Secret"
            )
            assert secret.type == "kubernetes.io/dockerconfigjson"
            eventually(
                lambda: pull_secrets(core, namespace) == ["ghcr-pull"],
                what="default ServiceAccount patched",
            )
            _no_forbidden(proc)
        _released(api_client, proc)
        # A second start rewrites its configuration with a new CA: get and update, by name.
        with proc:
            assert _leads(api_client, proc) != first_leader
            second = admission.read_mutating_webhook_configuration(WEBHOOK_CONFIGURATION)
            assert second.webhooks[0].client_config.ca_bundle != (
                first.webhooks[0].client_config.ca_bundle
            )
            delete_manager(custom, None, name)
            eventually(gone(lambda: core.read_namespaced_secret("ghcr-pull", namespace)))
            eventually(lambda: pull_secrets(core, namespace) == [], what="entry removed")
            _no_forbidden(proc)
        _released(api_client, proc)
        assert first.webhooks[0].client_config.url.startswith("https://127.0.0.1:")
    finally:
        try:
            admission.delete_mutating_webhook_configuration(WEBHOOK_CONFIGURATION)
        except ApiException as e:
            if e.status != 404:
                raise


@pytest.fixture
def other(core: client.CoreV1Api, namespace: str) -> Iterator[str]:
    """A namespace the namespaced install does not serve, with a Secret in it."""
    name = f"{namespace}-other"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    core.create_namespaced_secret(
        name,
        client.V1Secret(metadata=client.V1ObjectMeta(name="private"), string_data={"k": "v"}),
    )
    eventually(lambda: core.read_namespaced_service_account("default", name))
    yield name
    core.delete_namespace(name)


def _forbidden(call: Any) -> bool:
    try:
        call()
    except ApiException as e:
        return e.status == FORBIDDEN
    return False


def test_namespaced_install_serves_its_namespace_and_nothing_else(
    *,
    control_plane: ControlPlane,
    api_client: client.ApiClient,
    core: client.CoreV1Api,
    kubectl: Path,
    namespace: str,
    other: str,
    tmp_path: Path,
) -> None:
    objects = kustomize_in(CONFIG / "namespaced", namespace, tmp_path / "overlay")
    applied = _apply(control_plane, kubectl, objects)
    custom = client.CustomObjectsApi(api_client)
    cluster_name = f"elsewhere-{uuid.uuid4().hex[:6]}"
    try:
        crd_support.established(api_client)
        kubeconfig = _account_kubeconfig(control_plane, api_client, namespace)
        args = _local_args(one(objects, "Deployment", "cheiron"))
        assert args[args.index("--namespace") + 1] == namespace

        # The identity itself: the apiserver refuses it everything outside its namespace.
        as_operator = config.new_client_from_config(config_file=str(kubeconfig))
        own = client.CoreV1Api(as_operator)
        assert _forbidden(lambda: own.read_namespaced_secret("private", other))
        assert _forbidden(
            lambda: own.patch_namespaced_service_account(
                "default", other, {"metadata": {"annotations": {"x": "y"}}}
            )
        )
        assert _forbidden(own.list_secret_for_all_namespaces)
        # Cluster managers carry credentials for every namespace: not a tenant's to read.
        assert _forbidden(
            lambda: client.CustomObjectsApi(as_operator).list_cluster_custom_object(
                API_GROUP, API_VERSION, CLUSTER_PLURAL
            )
        )

        # A cluster manager exists, but is no business of a namespaced operator.
        elsewhere = manager_body(cluster_name, [inline("from-cluster")], cluster=True)
        elsewhere["spec"]["target"] = {"namespaces": {"names": [namespace]}}
        create_manager(custom, None, elsewhere)
        proc = OperatorProcess(kubeconfig, tmp_path / "operator.log", args)
        with proc:
            # The Lease lives in the operator's namespace, here the one it serves.
            _leads(api_client, proc)
            create_manager(custom, namespace, manager_body("team", [inline("team-pull")]))
            eventually(
                lambda: pull_secrets(core, namespace) == ["team-pull"],
                what="default ServiceAccount patched",
            )
            eventually(
                lambda: (
                    get_manager(custom, namespace, "team").get("status", {}).get("phase") == "Ready"
                ),
                what="manager Ready (its status written as the operator)",
            )
            names = [s.metadata.name for s in core.list_namespaced_secret(namespace).items]
            assert "team-pull" in names
            assert "from-cluster" not in names
            assert pull_secrets(core, other) == []
            # Deleting lists the manager's Secrets in its namespace only, as the Role allows.
            delete_manager(custom, namespace, "team")
            eventually(gone(lambda: core.read_namespaced_secret("team-pull", namespace)))
            eventually(lambda: pull_secrets(core, namespace) == [], what="entry removed")
            _no_forbidden(proc)
        _released(api_client, proc)
    finally:
        try:
            custom.delete_cluster_custom_object(
                API_GROUP, API_VERSION, CLUSTER_PLURAL, cluster_name
            )
        except ApiException as e:
            if e.status != 404:
                raise
        _remove(api_client, applied)
