"""The original project's documented sample applies unchanged and works."""

import base64
import json
from pathlib import Path
from typing import Any

from kubernetes import client

from cheiron import API_GROUP, API_VERSION
from tests.support.managers import create_manager, docker_config, load_sample
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually

SAMPLE = Path(__file__).parents[3] / "samples" / "imagepullsecretmanager-original.yaml"


def _pull_secret(name: str, registry: str) -> client.V1Secret:
    config = {"auths": {registry: {"auth": base64.b64encode(b"gl:token").decode()}}}
    return client.V1Secret(
        metadata=client.V1ObjectMeta(name=name),
        type="kubernetes.io/dockerconfigjson",
        string_data={".dockerconfigjson": json.dumps(config)},
    )


def _ready(manager: dict[str, Any]) -> dict[str, Any] | None:
    for condition in (manager.get("status") or {}).get("conditions", []):
        if condition["type"] == "Ready":
            return dict(condition)
    return None


def test_original_sample(
    operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    core.create_namespaced_secret(namespace, _pull_secret("gitlab-registry", "registry.gitlab.com"))
    create_manager(custom, namespace, load_sample(SAMPLE))

    def default_sa_pull_secrets() -> list[str] | None:
        sa = core.read_namespaced_service_account("default", namespace)
        names = [r.name for r in sa.image_pull_secrets or []]
        return names if len(names) == 3 else None

    names = eventually(default_sa_pull_secrets, what="default ServiceAccount patched")
    assert sorted(names) == ["docker-hub", "github-container-registry", "gitlab-registry"]

    hub = core.read_namespaced_secret("docker-hub", namespace)
    assert hub.type == "kubernetes.io/dockerconfigjson"
    assert hub.metadata.labels["app.kubernetes.io/managed-by"] == "cheiron"
    config = docker_config(hub)
    entry = config["auths"]["https://index.docker.io/v1/"]
    assert base64.b64decode(entry["auth"]) == b"<my-docker-username>:<my-docker-password>"

    sa = core.read_namespaced_service_account("default", namespace)
    assert sa.metadata.annotations["cheiron.anny.co/reconcilable"] == "true"
    assert sa.metadata.annotations["cheiron.anny.co/reconciled"] == "true"

    def degraded() -> dict[str, Any] | None:
        manager = custom.get_namespaced_custom_object(
            API_GROUP, API_VERSION, namespace, "imagepullsecretmanagers", "my-registry"
        )
        condition = _ready(manager)
        return manager if condition and condition["status"] == "False" else None

    manager = eventually(degraded, what="Ready=False for the placeholder entry")
    condition = _ready(manager)
    assert condition is not None
    assert condition["reason"] == "InvalidSecretName"
    assert "<my-registry>" in condition["message"]
    entries = {e["name"]: e for e in manager["status"]["entries"]}
    assert entries["docker-hub"]["ready"] is True
    assert entries["<my-registry>"]["ready"] is False
    assert manager["status"]["targetNamespaces"] == 1
    assert "<my-docker-password>" not in json.dumps(manager["status"])
