"""Fixtures for operator tests: the CRDs installed once, one operator process per module."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def inline(name: str, registry: str = "ghcr.io", password: str = "pw") -> dict[str, str]:  # noqa: S107
    """An inline credential entry."""
    return {"name": name, "registry": registry, "username": "robot", "password": password}


def manager_body(
    name: str, secrets: list[dict[str, Any]], *, mode: str = "ServiceAccount", cluster: bool = False
) -> dict[str, Any]:
    """A manager manifest."""
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": "ClusterImagePullSecretManager" if cluster else "ImagePullSecretManager",
        "metadata": {"name": name},
        "spec": {"mode": mode, "secrets": secrets},
    }


def set_secrets(
    custom: client.CustomObjectsApi, namespace: str, name: str, secrets: list[dict[str, Any]]
) -> None:
    """Replace a namespaced manager's `spec.secrets`."""
    custom.patch_namespaced_custom_object(
        API_GROUP,
        API_VERSION,
        namespace,
        "imagepullsecretmanagers",
        name,
        {"spec": {"secrets": secrets}},
    )


def get_manager(
    custom: client.CustomObjectsApi, namespace: str | None, name: str
) -> dict[str, Any]:
    """A manager of either kind, as stored."""
    if namespace is None:
        found: dict[str, Any] = custom.get_cluster_custom_object(
            API_GROUP, API_VERSION, "clusterimagepullsecretmanagers", name
        )
        return found
    stored: dict[str, Any] = custom.get_namespaced_custom_object(
        API_GROUP, API_VERSION, namespace, "imagepullsecretmanagers", name
    )
    return stored


def ready_condition(manager: dict[str, Any]) -> dict[str, Any] | None:
    """The Ready condition of a manager's status."""
    for condition in (manager.get("status") or {}).get("conditions", []):
        if condition["type"] == "Ready":
            return dict(condition)
    return None


def pull_secrets(core: client.CoreV1Api, namespace: str, account: str = "default") -> list[str]:
    """The imagePullSecrets of a ServiceAccount, in order."""
    sa = core.read_namespaced_service_account(account, namespace)
    return [ref.name for ref in sa.image_pull_secrets or []]


def wait_for_pull_secrets(
    core: client.CoreV1Api, namespace: str, expected: list[str], account: str = "default"
) -> None:
    """Poll until a ServiceAccount lists exactly `expected` (in any order)."""
    eventually(
        lambda: sorted(pull_secrets(core, namespace, account)) == sorted(expected),
        what=f"{namespace}/{account} imagePullSecrets == {sorted(expected)}",
    )


def events_for(core: client.CoreV1Api, namespace: str, name: str) -> list[client.CoreV1Event]:
    """Events about the object `name` in `namespace`."""
    return [
        e for e in core.list_namespaced_event(namespace).items if e.involved_object.name == name
    ]


def resource_versions(
    core: client.CoreV1Api, custom: client.CustomObjectsApi, namespace: str, manager: str = "m"
) -> dict[str, str]:
    """ResourceVersions of a namespace's Secrets and ServiceAccounts and of one manager."""
    versions = {
        f"secret/{s.metadata.name}": s.metadata.resource_version
        for s in core.list_namespaced_secret(namespace).items
    }
    versions |= {
        f"sa/{sa.metadata.name}": sa.metadata.resource_version
        for sa in core.list_namespaced_service_account(namespace).items
    }
    versions["manager"] = get_manager(custom, namespace, manager)["metadata"]["resourceVersion"]
    return versions
