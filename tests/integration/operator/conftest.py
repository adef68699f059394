"""Fixtures for operator tests: the CRDs installed once, one operator process per module."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from cheiron import API_GROUP, API_VERSION
from cheiron.api.crd import KINDS, crd
from cheiron.devcluster import ControlPlane
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually


@pytest.fixture(scope="session")
def crds(api_client: client.ApiClient) -> None:
    """The CRDs, generated from the models, installed and established."""
    ext = client.ApiextensionsV1Api(api_client)
    for kind in KINDS:
        body = crd(kind)
        try:
            ext.create_custom_resource_definition(body)
        except ApiException as e:
            if e.status != 409:
                raise

        def established(name: str = body["metadata"]["name"]) -> bool:
            conditions = ext.read_custom_resource_definition(name).status.conditions or []
            return any(c.type == "Established" and c.status == "True" for c in conditions)

        eventually(established, what=f"CRD {kind.kind} established")


@pytest.fixture(scope="module")
def operator(
    control_plane: ControlPlane, crds: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """A running operator for the tests of one module."""
    log_path = tmp_path_factory.mktemp("operator") / "operator.log"
    with OperatorProcess(control_plane.kubeconfig_path, log_path) as proc:
        yield proc


@pytest.fixture
def custom(api_client: client.ApiClient) -> client.CustomObjectsApi:
    """The custom objects API."""
    return client.CustomObjectsApi(api_client)


def load_sample(path: Path) -> dict[str, object]:
    """A sample manifest as a dict."""
    loaded: dict[str, object] = yaml.safe_load(path.read_text())
    return loaded


def create_manager(
    custom: client.CustomObjectsApi, namespace: str | None, body: dict[str, object]
) -> dict[str, object]:
    """Create a manager of either kind."""
    kind = body["kind"]
    if namespace is None:
        created: dict[str, object] = custom.create_cluster_custom_object(
            API_GROUP, API_VERSION, "clusterimagepullsecretmanagers", body
        )
        return created
    assert kind == "ImagePullSecretManager"
    namespaced: dict[str, object] = custom.create_namespaced_custom_object(
        API_GROUP, API_VERSION, namespace, "imagepullsecretmanagers", body
    )
    return namespaced
