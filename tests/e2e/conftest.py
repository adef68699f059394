"""Fixtures of the end-to-end tier: a control plane with a real node, a private registry.

Package-scoped: the node and its plane stop when the tier ends, before the other tiers run.
"""

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from cheiron.devcluster import ControlPlane
from cheiron.devcluster.cluster import free_port
from cheiron.devcluster.images import runnable_image, write_layout
from cheiron.devcluster.node import Node, plane_for_node
from tests.support import crds as crd_support
from tests.support.host import differences, host_state
from tests.support.oci import push
from tests.support.operator import OperatorProcess
from tests.support.registry import Registry

REGISTRY_USER = "e2e-robot"
PRIVATE_REPOSITORY = "private/busybox"
# The name under which the operator registers its admission webhook.
WEBHOOK_CONFIGURATION = "cheiron"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="package")
def control_plane() -> Iterator[ControlPlane]:
    """The control plane, with the controllers a cluster with nodes runs."""
    with plane_for_node() as plane:
        yield plane


@pytest.fixture(scope="package")
def node(control_plane: ControlPlane) -> Iterator[Node]:
    """One real node: containerd, kubelet, kube-scheduler, kube-proxy, the bridge, the fence.

    Its stop must leave the host as it found it: the teardown fails otherwise.
    """
    before = host_state()
    with Node(control_plane) as started:
        yield started
    changed = differences(before, host_state())
    assert not changed, f"the node left the host changed: {changed}"


@pytest.fixture(scope="package")
def api_client(control_plane: ControlPlane) -> client.ApiClient:
    """An admin client of the tier's apiserver."""
    return config.new_client_from_config(config_file=str(control_plane.kubeconfig_path))


@pytest.fixture(scope="package")
def crds(api_client: client.ApiClient) -> None:
    """The CRDs of cheiron, installed and established."""
    crd_support.install(api_client)


@pytest.fixture(scope="package")
def registry_password() -> str:
    """The private registry's password, new for each run."""
    return secrets.token_urlsafe(12)


@pytest.fixture(scope="package")
def registry(node: Node, registry_password: str) -> Iterator[Registry]:
    """A private registry (TLS from a test CA, htpasswd) that the node trusts."""
    with Registry(auth=(REGISTRY_USER, registry_password), tls=True, delete=True) as started:
        assert started.ca_path is not None
        node.trust_registry(started.host, started.ca_path)
        yield started


@pytest.fixture(scope="package")
def private_image(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A runnable busybox image in the private registry; its reference."""
    layout = tmp_path_factory.mktemp("private-image") / "layout"
    write_layout(runnable_image(marker="private"), layout, "1")
    push(layout, f"{PRIVATE_REPOSITORY}:1", registry)
    return f"{registry.host}/{PRIVATE_REPOSITORY}:1"


# Module-scoped: the modules that install cheiron as Pods must not share the cluster with it.
@pytest.fixture(scope="module")
def operator(
    control_plane: ControlPlane,
    crds: None,
    api_client: client.ApiClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """cheiron, running on this host against the tier's control plane, with its webhook.

    The apiserver calls the webhook on loopback; it registers its own configuration.
    """
    log_path = tmp_path_factory.mktemp("operator") / "operator.log"
    args = ("--webhook-port", str(free_port()), "--webhook-host", "127.0.0.1")
    with OperatorProcess(control_plane.kubeconfig_path, log_path, args) as proc:
        yield proc
    with contextlib.suppress(ApiException):
        client.AdmissionregistrationV1Api(api_client).delete_mutating_webhook_configuration(
            WEBHOOK_CONFIGURATION
        )


@dataclass(frozen=True)
class Env:
    """What a test of this tier works with: the APIs, its namespace, the private image."""

    core: client.CoreV1Api
    apps: client.AppsV1Api
    custom: client.CustomObjectsApi
    namespace: str
    registry: Registry
    password: str
    image: str

    def entry(self, password: str | None = None) -> dict[str, str]:
        """An inline credential entry for the private registry (its password by default)."""
        return {
            "name": "private-registry",
            "registry": self.registry.host,
            "username": REGISTRY_USER,
            "password": password or self.password,
        }


@pytest.fixture
def env(  # noqa: PLR0917 - fixtures arrive as arguments
    core: client.CoreV1Api,
    apps: client.AppsV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
    registry: Registry,
    registry_password: str,
    private_image: str,
) -> Env:
    """The test's environment."""
    return Env(core, apps, custom, namespace, registry, registry_password, private_image)
