"""Build, create, read and delete managers in tests and benches, and read what they deliver."""

import base64
import json
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from cheiron import API_GROUP, API_VERSION
from cheiron.api.crd import CLUSTER_IMAGE_PULL_SECRET_MANAGER, IMAGE_PULL_SECRET_MANAGER
from tests.support.poll import DEFAULT_TIMEOUT, eventually, gone

CLUSTER_PLURAL = CLUSTER_IMAGE_PULL_SECRET_MANAGER.plural
PLURAL = IMAGE_PULL_SECRET_MANAGER.plural


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
            API_GROUP, API_VERSION, CLUSTER_PLURAL, body
        )
        return created
    assert kind == "ImagePullSecretManager"
    namespaced: dict[str, object] = custom.create_namespaced_custom_object(
        API_GROUP, API_VERSION, namespace, PLURAL, body
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


def patch_spec(
    custom: client.CustomObjectsApi, namespace: str, name: str, spec: dict[str, Any]
) -> None:
    """Merge-patch a namespaced manager's spec."""
    custom.patch_namespaced_custom_object(
        API_GROUP, API_VERSION, namespace, PLURAL, name, {"spec": spec}
    )


def set_secrets(
    custom: client.CustomObjectsApi, namespace: str, name: str, secrets: list[dict[str, Any]]
) -> None:
    """Replace a namespaced manager's `spec.secrets`."""
    patch_spec(custom, namespace, name, {"secrets": secrets})


def get_manager(
    custom: client.CustomObjectsApi, namespace: str | None, name: str
) -> dict[str, Any]:
    """A manager of either kind, as stored."""
    if namespace is None:
        found: dict[str, Any] = custom.get_cluster_custom_object(
            API_GROUP, API_VERSION, CLUSTER_PLURAL, name
        )
        return found
    stored: dict[str, Any] = custom.get_namespaced_custom_object(
        API_GROUP, API_VERSION, namespace, PLURAL, name
    )
    return stored


def delete_manager(custom: client.CustomObjectsApi, namespace: str | None, name: str) -> None:
    """Delete a manager of either kind and wait until its finalizer let it go."""
    if namespace is None:
        custom.delete_cluster_custom_object(API_GROUP, API_VERSION, CLUSTER_PLURAL, name)
    else:
        custom.delete_namespaced_custom_object(API_GROUP, API_VERSION, namespace, PLURAL, name)
    eventually(gone(lambda: get_manager(custom, namespace, name)), what=f"manager {name} deleted")


def ready_condition(manager: dict[str, Any]) -> dict[str, Any] | None:
    """The Ready condition of a manager's status."""
    for condition in (manager.get("status") or {}).get("conditions", []):
        if condition["type"] == "Ready":
            return dict(condition)
    return None


def wait_until_ready(custom: client.CustomObjectsApi, namespace: str, name: str) -> None:
    """Poll until the namespaced manager reports Ready=True."""
    eventually(
        lambda: (
            (c := ready_condition(get_manager(custom, namespace, name))) is not None
            and c["status"] == "True"
        ),
        what=f"manager {name} Ready",
    )


def pull_secrets(core: client.CoreV1Api, namespace: str, account: str = "default") -> list[str]:
    """The imagePullSecrets of a ServiceAccount, in order."""
    sa = core.read_namespaced_service_account(account, namespace)
    return [ref.name for ref in sa.image_pull_secrets or []]


def wait_for_pull_secrets(
    core: client.CoreV1Api,
    namespace: str,
    expected: list[str],
    account: str = "default",
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    """Poll until a ServiceAccount lists exactly `expected` (in any order)."""
    eventually(
        lambda: sorted(pull_secrets(core, namespace, account)) == sorted(expected),
        timeout=timeout,
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


def docker_config(secret: client.V1Secret) -> dict[str, Any]:
    """The decoded `.dockerconfigjson` of a pull Secret."""
    loaded: dict[str, Any] = json.loads(base64.b64decode(secret.data[".dockerconfigjson"]))
    return loaded


def pull_password(core: client.CoreV1Api, namespace: str, name: str) -> str | None:
    """The password in a one-registry pull Secret, or None while the Secret is missing."""
    try:
        secret = core.read_namespaced_secret(name, namespace)
    except client.ApiException as e:
        if e.status == 404:
            return None
        raise
    (auth,) = docker_config(secret)["auths"].values()
    return str(auth["password"])
