"""The informer on the real apiserver: list, watch, and a relist that leaves no ghosts."""

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

import pytest
from kubernetes import client, config

from cheiron import API_GROUP, API_VERSION
from cheiron.devcluster import ControlPlane
from cheiron.k8s.informer import DELETED, LISTED, Informer, Key
from cheiron.k8s.rest import CoreApi
from cheiron.runtime.caches import BACKUP_PLURAL, build_caches
from tests.integration.informer.conftest import compact
from tests.support import crds as crd_support
from tests.support.managers import create_manager, inline, manager_body
from tests.support.poll import until


def _name(body: Mapping[str, Any]) -> str:
    return str(body["metadata"]["name"])


def _account(core: client.CoreV1Api, namespace: str, name: str) -> None:
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name))
    )


def _run(informer: Informer[str], body: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        informer.start()
        try:
            await asyncio.wait_for(informer.wait_synced(), 20)
            await body()
        finally:
            await asyncio.to_thread(informer.stop)

    asyncio.run(main())


def _informer(
    core: client.CoreV1Api, namespace: str, events: list[tuple[str, Key]]
) -> Informer[str]:
    informer: Informer[str] = Informer(
        "serviceaccounts",
        core.list_namespaced_service_account,
        _name,
        lambda _v: namespace,
        (namespace,),
        page_size=2,  # several pages even for a handful of objects
    )
    informer.add_handler(lambda kind, key, _old, _new: events.append((kind, key)))
    return informer


def test_lists_in_pages_then_follows_the_watch(core: client.CoreV1Api, namespace: str) -> None:
    for i in range(5):
        _account(core, namespace, f"before-{i}")
    events: list[tuple[str, Key]] = []
    informer = _informer(core, namespace, events)

    async def body() -> None:
        names = set(informer.in_group(namespace).values())
        assert {f"before-{i}" for i in range(5)} <= names
        assert all(kind == LISTED for kind, _key in events)
        _account(core, namespace, "after")
        await until(lambda: (namespace, "after") in informer.objects, timeout=20, what="creation")
        core.delete_namespaced_service_account("before-0", namespace)
        await until(
            lambda: (namespace, "before-0") not in informer.objects, timeout=20, what="delete"
        )
        assert (DELETED, (namespace, "before-0")) in events
        assert informer.lists == 1

    _run(informer, body)


def test_relist_after_the_watch_expired_drops_what_went_meanwhile(
    storage_plane: ControlPlane, storage_core: client.CoreV1Api
) -> None:
    core, namespace = storage_core, "expiry"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    for name in ("stays", "goes"):
        _account(core, namespace, name)
    events: list[tuple[str, Key]] = []
    informer = _informer(core, namespace, events)

    async def body() -> None:
        assert (namespace, "goes") in informer.objects
        partition = threading.Event()
        # Disconnected (as by a network partition) and so not watching while things change.
        informer.reconnect(wait_for=partition)
        await asyncio.sleep(0.5)
        core.delete_namespaced_service_account("goes", namespace)
        _account(core, namespace, "new")
        # etcd forgets the history the informer would resume from: its watch gets 410 Gone,
        # and only a relist can tell what happened meanwhile.
        compact(storage_plane)
        await asyncio.sleep(0.5)
        assert (namespace, "goes") in informer.objects, "the informer was not disconnected"
        partition.set()
        await until(lambda: informer.lists == 2, timeout=20, what="relist")
        await until(
            lambda: (namespace, "goes") not in informer.objects, timeout=20, what="no ghost"
        )
        assert (namespace, "new") in informer.objects
        assert (namespace, "stays") in informer.objects
        assert (DELETED, (namespace, "goes")) in events
        assert set(informer.in_group(namespace).values()) >= {"stays", "new"}
        assert "goes" not in informer.in_group(namespace).values()

    _run(informer, body)


def test_secrets_no_entry_can_read_never_reach_the_cache(
    api_client: client.ApiClient, core: client.CoreV1Api, namespace: str
) -> None:
    heard: list[Key] = []
    secrets = build_caches(api_client, namespaces=[namespace], cluster=False).secrets
    full, metadata = secrets.informers
    secrets.add_handler(lambda _kind, key, _old, _new: heard.append(key))

    def secret(name: str, type_: str, data: dict[str, str]) -> None:
        core.create_namespaced_secret(
            namespace,
            client.V1Secret(metadata=client.V1ObjectMeta(name=name), type=type_, string_data=data),
        )

    async def body() -> None:
        metadata.start()
        await asyncio.wait_for(metadata.wait_synced(), 20)
        secret("sh.helm.release.v1.app.v1", "helm.sh/release.v1", {"release": "x" * 1000})
        secret("creds", "Opaque", {"password": "x" * 1000})
        pull = '{"auths":{"ghcr.io":{"auth":"dTpw"}}}'
        secret("pull", "kubernetes.io/dockerconfigjson", {".dockerconfigjson": pull})
        # The apiserver delivers in order: once the Opaque one is heard, the release was
        # left out by the server, not still on its way.
        await until(lambda: (namespace, "creds") in heard, timeout=20, what="the Opaque one")
        await until(lambda: (namespace, "pull") in full.objects, timeout=20, what="the pull one")
        assert (namespace, "sh.helm.release.v1.app.v1") not in heard
        # Heard of, never kept: a credentials Secret is read by name when a manager needs it.
        assert (namespace, "creds") not in metadata.objects
        assert (namespace, "creds") not in full.objects
        await asyncio.to_thread(metadata.stop)

    _run(full, body)


def test_a_metadata_informer_is_sent_no_secret_data(
    api_client: client.ApiClient, core: client.CoreV1Api, namespace: str
) -> None:
    """The apiserver strips the content: a tenant's 1 MiB Secrets cost their metadata only."""
    bodies: list[Mapping[str, Any]] = []

    def keep(body: Mapping[str, Any]) -> str:
        bodies.append(body)
        return _name(body)

    core.create_namespaced_secret(
        namespace,
        client.V1Secret(metadata=client.V1ObjectMeta(name="listed"), string_data={"k": "v" * 1000}),
    )
    informer: Informer[str] = Informer(
        "secrets",
        CoreApi(api_client).list_namespaced_secret,
        keep,
        lambda _v: namespace,
        (namespace,),
        page_size=1,
        metadata_only=True,
    )

    async def body() -> None:
        core.create_namespaced_secret(
            namespace,
            client.V1Secret(
                metadata=client.V1ObjectMeta(name="watched"), string_data={"k": "v" * 1000}
            ),
        )
        await until(lambda: (namespace, "watched") in informer.objects, timeout=20, what="watch")

    _run(informer, body)
    assert {_name(b) for b in bodies} >= {"listed", "watched"}
    for seen in bodies:
        assert seen["kind"] == "PartialObjectMetadata"
        assert "data" not in seen
        assert "stringData" not in seen


def test_accounts_keep_only_the_labels_a_selector_reads_and_relist_when_one_is_new(
    api_client: client.ApiClient,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    crds: None,
    namespace: str,
) -> None:
    """A tenant's 5,000 labels per ServiceAccount cost nothing until a selector names one."""
    labels = {f"tenant-{i}": "x" * 20 for i in range(5000)} | {"pulls": "yes"}
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="app", labels=labels))
    )
    caches = build_caches(api_client, namespaces=[namespace], cluster=False)
    (accounts,) = caches.accounts.informers

    def app() -> Any:
        return accounts.objects.get((namespace, "app"))

    async def main() -> None:
        caches.start()
        try:
            await asyncio.wait_for(caches.wait_current(), 30)
            assert app() is not None
            assert app().labels == {}  # no manager selects by label: none kept
            body = manager_body("m", [inline("reg")])
            body["spec"]["serviceAccountSelector"] = {
                "labelSelector": {"matchLabels": {"pulls": "yes"}}
            }
            create_manager(custom, namespace, body)
            await until(lambda: accounts.lists == 2, timeout=20, what="a relist for the key")
            await asyncio.wait_for(caches.wait_current(), 30)
            # Once current, the snapshots hold the key: no decision sees it missing.
            assert app().labels == {"pulls": "yes"}
            assert not caches.relisting
        finally:
            await asyncio.to_thread(caches.stop)

    asyncio.run(main())


@pytest.fixture(scope="module")
def bare_plane() -> Iterator[ControlPlane]:
    """A plane no other test left a backup on (a backup's finalizer outlives its operator)."""
    with crd_support.own_control_plane() as plane:
        yield plane


def test_workloads_are_listed_only_once_a_backup_exists(bare_plane: ControlPlane) -> None:
    """Tenants' Deployments (templates, annotations) cost nothing until a backup reads them."""
    api_client = config.new_client_from_config(config_file=str(bare_plane.kubeconfig_path))
    custom = client.CustomObjectsApi(api_client)
    caches = build_caches(api_client)
    assert caches.workloads is not None
    workloads = caches.workloads.informers
    name = f"b-{uuid.uuid4().hex[:8]}"
    body = {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": "ClusterImageBackup",
        "metadata": {"name": name},
        "spec": {
            "registry": {
                "host": "127.0.0.1:9",
                "credentialsSecretRef": {"name": "push", "namespace": "default"},
                "insecure": True,
            },
        },
    }

    async def main() -> None:
        caches.start()
        try:
            await asyncio.wait_for(caches.wait_synced(), 30)
            assert caches.synced
            assert not any(i.started for i in workloads)
            custom.create_cluster_custom_object(API_GROUP, API_VERSION, BACKUP_PLURAL, body)
            await until(lambda: all(i.has_synced for i in workloads), timeout=20, what="listed")
            assert caches.synced
        finally:
            await asyncio.to_thread(caches.stop)

    asyncio.run(main())
