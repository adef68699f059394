"""Registries (a public source, an authenticated TLS backup), the operator and helpers."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from cheiron import API_GROUP, API_VERSION
from cheiron.devcluster import ControlPlane
from cheiron.devcluster.cluster import free_port
from cheiron.images.reference import parse
from cheiron.sources.skopeo import RegistryAccess
from tests.support import oci
from tests.support.backups import (
    PASSWORD,
    PLURAL,
    USER,
    create_backup,
    image_record,
    push_credentials,
)
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually
from tests.support.registry import Registry


@pytest.fixture
def source_registry() -> Iterator[Registry]:
    """The "public" registry images come from: plain HTTP, no auth, deletes enabled."""
    with Registry(delete=True) as r:
        yield r


@pytest.fixture
def backup_registry() -> Iterator[Registry]:
    """The backup registry: HTTPS from a test CA, htpasswd auth."""
    with Registry(auth=(USER, PASSWORD), tls=True) as r:
        yield r


def access(registry: Registry, password: str | None = None) -> RegistryAccess:
    """How cheiron reaches a test registry (its CA, or plain HTTP; its credentials)."""
    ca = registry.ca_path.read_text() if registry.ca_path is not None else None
    user, secret = registry.auth or (None, None)
    return RegistryAccess(
        registry.host,
        username=user,
        password=password or secret,
        ca_pem=ca,
        insecure=not registry.tls,
    )


# --- the operator and ClusterImageBackups -------------------------------------------------


@pytest.fixture(scope="module")
def backup_operator(
    control_plane: ControlPlane,
    crds: None,
    api_client: client.ApiClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """A cluster-wide operator serving the Pod webhook (for rewrite=Pods)."""
    log = tmp_path_factory.mktemp("backup") / "operator.log"
    args = ("--webhook-port", str(free_port()), "--webhook-host", "127.0.0.1")
    with OperatorProcess(control_plane.kubeconfig_path, log, args) as proc:
        yield proc
    try:
        client.AdmissionregistrationV1Api(api_client).delete_mutating_webhook_configuration(
            "cheiron"
        )
    except ApiException as e:
        if e.status != 404:
            raise


@pytest.fixture
def backups(custom: client.CustomObjectsApi) -> Iterator[list[str]]:
    """Names of the ClusterImageBackups a test creates; deleted afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        try:
            custom.delete_cluster_custom_object(API_GROUP, API_VERSION, PLURAL, name)
        except ApiException as e:
            if e.status != 404:
                raise


def deployment(
    name: str,
    image: str,
    *,
    init_image: str | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A one-replica Deployment manifest."""
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": image}]}
    if init_image is not None:
        spec["initContainers"] = [{"name": "init", "image": init_image}]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": spec},
        },
    }


def template_images(apps: client.AppsV1Api, namespace: str, name: str) -> list[str]:
    """Images of a Deployment's pod template, init containers first."""
    spec = apps.read_namespaced_deployment(name, namespace).spec.template.spec
    return [c.image for c in [*(spec.init_containers or []), *spec.containers]]


@dataclass
class Env:
    """What a backup test works with: the APIs, its namespace and the two registries."""

    core: client.CoreV1Api
    apps: client.AppsV1Api
    custom: client.CustomObjectsApi
    backups: list[str]
    namespace: str
    source: Registry
    backup: Registry
    tmp_path: Path

    def __post_init__(self) -> None:
        """Remember where the backup registry was and its CA: tests may stop it."""
        assert self.backup.ca_path is not None
        self.backup_at = (self.backup.host, self.backup.ca_path.read_text())

    def push(self, path: str, seed: str, *, index: bool = False) -> str:
        """Write and push `team/<path>:v1` to the source; returns its digest."""
        layout = self.tmp_path / path
        written = (
            oci.write_index(layout, "v1", seed=f"{seed}-{self.namespace}")
            if index
            else oci.write_image(layout, "v1", seed=f"{seed}-{self.namespace}")
        )
        oci.push(layout, f"team/{path}:v1", self.source)
        return written.digest

    def create_backup(self, password: str = PASSWORD, *, pull: bool = True, **spec: Any) -> str:
        """A ClusterImageBackup from the source into the backup registry; its name."""
        credentials = push_credentials(self.core, self.namespace, password=password)
        return create_backup(
            self.custom, self.backups, self.source, self.backup_at, credentials, pull=pull, **spec
        )

    def record(self, name: str, image: str) -> dict[str, Any] | None:
        """The status record of `image` (as written in a workload)."""
        return image_record(self.custom, name, parse(image).name)

    def wait_for_state(self, name: str, image: str, state: str) -> dict[str, Any]:
        """Poll until the image's record reaches `state`; the record."""
        found: dict[str, Any] = eventually(
            lambda: (r := self.record(name, image)) is not None and r["state"] == state and r,
            timeout=60,
            what=f"{image} {state}",
        )
        return found

    def backup_repo(self, path: str) -> str:
        """Where the source's `team/<path>` is backed up (without the host)."""
        return f"bk/{self.source.host.replace(':', '_')}/team/{path}"


@pytest.fixture
def env(  # noqa: PLR0917 - pytest passes fixtures by position
    core: client.CoreV1Api,
    apps: client.AppsV1Api,
    custom: client.CustomObjectsApi,
    backups: list[str],
    namespace: str,
    source_registry: Registry,
    backup_registry: Registry,
    tmp_path: Path,
) -> Env:
    """Everything a backup test needs, in one object."""
    return Env(core, apps, custom, backups, namespace, source_registry, backup_registry, tmp_path)
