"""ClusterImageBackups for tests: the push credentials, the resource, its status records."""

import base64
import uuid
from typing import Any

from kubernetes import client

from cheiron import API_GROUP, API_VERSION
from cheiron.api.crd import CLUSTER_IMAGE_BACKUP
from tests.support.registry import Registry

USER, PASSWORD = "backup-robot", "pushing-s3cret"
PLURAL = CLUSTER_IMAGE_BACKUP.plural


def push_credentials(
    core: client.CoreV1Api,
    namespace: str,
    name: str = "backup-push",
    password: str = PASSWORD,
    user: str = USER,
) -> dict[str, str]:
    """A Secret with a registry's username and password; its reference.

    By default the backup registry's push credentials.
    """
    data = {"username": user, "password": password}
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name=name),
            data={k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        ),
    )
    return {"name": name, "namespace": namespace}


def create_backup(
    custom: client.CustomObjectsApi,
    backups: list[str],
    source: Registry,
    backup_to: tuple[str, str | None],
    credentials: dict[str, str],
    *,
    pull: bool = True,
    pull_credentials: dict[str, str] | None = None,
    **spec: Any,
) -> str:
    """A ClusterImageBackup into `backup_to` (host, CA or None for plain http; prefix `bk`).

    `pull`: name `pull_credentials` (by default the push ones: the tests' htpasswd registry
    has one user) as the read-only pull ones, else give the backup push credentials only.
    """
    pulling = pull_credentials or credentials
    name = f"b-{uuid.uuid4().hex[:8]}"
    host, ca = backup_to
    body = {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": "ClusterImageBackup",
        "metadata": {"name": name},
        "spec": {
            "registry": {
                "host": host,
                "prefix": "bk",
                "credentialsSecretRef": credentials,
                **({"pullCredentialsSecretRef": pulling} if pull else {}),
                **({"caBundle": ca} if ca else {"insecure": True}),
            },
            "sourceRegistries": [{"registry": source.host, "insecure": True}],
            **spec,
        },
    }
    custom.create_cluster_custom_object(API_GROUP, API_VERSION, PLURAL, body)
    backups.append(name)
    return name


def get_backup(custom: client.CustomObjectsApi, name: str) -> dict[str, Any]:
    """A ClusterImageBackup as stored."""
    found: dict[str, Any] = custom.get_cluster_custom_object(API_GROUP, API_VERSION, PLURAL, name)
    return found


def image_record(custom: client.CustomObjectsApi, name: str, source: str) -> dict[str, Any] | None:
    """The status record of one source image (normalised reference)."""
    for record in (get_backup(custom, name).get("status") or {}).get("images", []):
        if record["source"] == source:
            return dict(record)
    return None
