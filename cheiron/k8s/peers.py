"""Read-only reads of other tools' objects for `cheiron migrate`: Secrets lose their values here."""

import base64
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from kubernetes import client
from kubernetes.client.rest import ApiException

from cheiron.api.observed import DOCKERCONFIGJSON_KEY
from cheiron.dockerconfig import DockerConfig, DockerConfigError

T = TypeVar("T")


def _or_none(read: Callable[[], T]) -> T | None:
    """What `read` returns, or None on 404: the object, or the tool's CRD, is not there.

    Anything else (403 above all) is raised: a migration must not pass off "not allowed to
    look" as "nothing there".
    """
    try:
        return read()
    except ApiException as e:
        if e.status == 404:
            return None
        raise


def custom_objects(
    api: client.ApiClient, group: str, version: str, plural: str
) -> list[dict[str, Any]]:
    """Every object of a custom kind in the cluster; none when the CRD is not installed."""
    custom = client.CustomObjectsApi(api)
    listed = _or_none(lambda: custom.list_cluster_custom_object(group, version, plural))
    return list((listed or {}).get("items") or [])


def namespaces(api: client.ApiClient) -> list[dict[str, Any]]:
    """Every namespace, as plain data."""
    core = client.CoreV1Api(api)
    return [api.sanitize_for_serialization(n) for n in core.list_namespace().items]


def deployments(api: client.ApiClient) -> list[dict[str, Any]]:
    """Every Deployment, as plain data."""
    apps = client.AppsV1Api(api)
    return [
        api.sanitize_for_serialization(d) for d in apps.list_deployment_for_all_namespaces().items
    ]


def config_map(api: client.ApiClient, namespace: str, name: str) -> dict[str, str] | None:
    """A ConfigMap's data, or None when it does not exist."""
    core = client.CoreV1Api(api)
    found = _or_none(lambda: core.read_namespaced_config_map(name, namespace))
    return None if found is None else dict(found.data or {})


def _registries(data: dict[str, str]) -> list[str]:
    raw = data.get(DOCKERCONFIGJSON_KEY)
    try:
        return list(DockerConfig.parse(base64.b64decode(raw)).registries) if raw else []
    except (DockerConfigError, ValueError):
        return []


def _facts(secret: Any, reveal: Collection[str]) -> dict[str, Any]:
    """The Secret without its values, but the text of the `reveal` keys (configuration).

    Kept: keys, metadata, and the registry hosts a dockerconfigjson names.
    """
    meta = secret.metadata
    data: dict[str, str] = dict(secret.data or {})
    revealed = {
        k: base64.b64decode(v).decode(errors="replace").strip()
        for k, v in data.items()
        if k in reveal
    }
    return {
        "namespace": meta.namespace,
        "name": meta.name,
        "type": secret.type,
        "keys": sorted(data),
        "labels": dict(meta.labels or {}),
        "annotations": {
            k: v
            for k, v in (meta.annotations or {}).items()
            # kubectl apply's copy of the whole object, values included.
            if k != "kubectl.kubernetes.io/last-applied-configuration"
        },
        "owners": [f"{o.api_version}/{o.kind}/{o.name}" for o in meta.owner_references or []],
        "owner_uids": [o.uid for o in meta.owner_references or []],
        "revealed": revealed,
        "registries": _registries(data),
    }


def secret_facts(
    api: client.ApiClient, namespace: str, name: str, reveal: Collection[str] = ()
) -> dict[str, Any] | None:
    """One Secret without its values (see `_facts`), or None when it does not exist."""
    core = client.CoreV1Api(api)
    secret = _or_none(lambda: core.read_namespaced_secret(name, namespace))
    return None if secret is None else _facts(secret, reveal)


def secrets_facts(
    api: client.ApiClient, namespace: str, reveal: Collection[str] = ()
) -> list[dict[str, Any]]:
    """Every Secret of a namespace without its values (see `_facts`)."""
    core = client.CoreV1Api(api)
    return [_facts(s, reveal) for s in core.list_namespaced_secret(namespace).items]


def secrets_across(
    api: client.ApiClient, *, label_selector: str = "", field_selector: str = ""
) -> list[dict[str, Any]]:
    """The Secrets of every namespace the selectors select, without their values."""
    core = client.CoreV1Api(api)
    listed = core.list_secret_for_all_namespaces(
        label_selector=label_selector, field_selector=field_selector
    )
    return [_facts(s, ()) for s in listed.items]
