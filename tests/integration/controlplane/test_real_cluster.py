"""Behaviours of a real control plane that a mocked API server would not show."""

import json
import ssl
import urllib.request

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from cheiron.devcluster import KUBERNETES_VERSION, ControlPlane
from tests.support.poll import eventually, gone


def _pod(name: str, service_account: str = "default") -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodSpec(
            service_account_name=service_account,
            containers=[client.V1Container(name="app", image="registry.example/app:1")],
        ),
    )


def test_version_reports_the_pinned_release(control_plane: ControlPlane) -> None:
    request = urllib.request.Request(f"{control_plane.server}/version")  # noqa: S310 - https
    with urllib.request.urlopen(request, context=control_plane.ssl_context()) as response:  # noqa: S310
        info = json.load(response)
    assert info["gitVersion"] == KUBERNETES_VERSION


def test_anonymous_clients_are_refused(control_plane: ControlPlane) -> None:
    ctx = ssl.create_default_context(cafile=str(control_plane.ca_cert_path))
    request = urllib.request.Request(f"{control_plane.server}/api/v1/secrets")  # noqa: S310
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, context=ctx)  # noqa: S310
    assert info.value.code in (401, 403)


def test_new_namespace_gets_default_service_account(core: client.CoreV1Api, namespace: str) -> None:
    sa = eventually(
        lambda: core.read_namespaced_service_account("default", namespace),
        what=f"ServiceAccount default in {namespace}",
    )
    assert sa.metadata.namespace == namespace


def test_service_account_pull_secrets_are_merged_into_new_pods(
    core: client.CoreV1Api, namespace: str
) -> None:
    core.create_namespaced_service_account(
        namespace,
        client.V1ServiceAccount(
            metadata=client.V1ObjectMeta(name="puller"),
            image_pull_secrets=[client.V1LocalObjectReference(name="regcred")],
        ),
    )
    pod = core.create_namespaced_pod(namespace, _pod("merged", service_account="puller"))
    assert [s.name for s in pod.spec.image_pull_secrets] == ["regcred"]


def test_pod_image_pull_secrets_are_immutable(core: client.CoreV1Api, namespace: str) -> None:
    # The namespace's default ServiceAccount must exist before admission accepts a Pod.
    eventually(lambda: core.read_namespaced_service_account("default", namespace))
    core.create_namespaced_pod(namespace, _pod("frozen"))
    with pytest.raises(ApiException) as info:
        core.patch_namespaced_pod(
            "frozen", namespace, {"spec": {"imagePullSecrets": [{"name": "late"}]}}
        )
    assert info.value.status == 422
    assert "Forbidden" in info.value.body
    stored = core.read_namespaced_pod("frozen", namespace)
    assert not stored.spec.image_pull_secrets


def test_orphaned_secret_is_garbage_collected(core: client.CoreV1Api, namespace: str) -> None:
    owner = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner"))
    )
    reference = client.V1OwnerReference(
        api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid
    )
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="dependent", owner_references=[reference]),
            string_data={"k": "v"},
        ),
    )
    core.create_namespaced_secret(
        namespace, client.V1Secret(metadata=client.V1ObjectMeta(name="bystander"))
    )
    # Orphan deletion by the apiserver itself: only the garbage collector removes dependents.
    core.delete_namespaced_config_map("owner", namespace, propagation_policy="Background")

    eventually(
        gone(lambda: core.read_namespaced_secret("dependent", namespace)),
        what="garbage collection of the dependent Secret",
    )
    assert core.read_namespaced_secret("bystander", namespace).metadata.name == "bystander"


def test_deleted_namespace_finishes_deleting(core: client.CoreV1Api) -> None:
    name = "doomed-namespace"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    core.create_namespaced_config_map(
        name, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="content"))
    )
    core.delete_namespace(name)

    # Without the namespace controller the namespace would stay Terminating forever.
    eventually(gone(lambda: core.read_namespace(name)), what=f"deletion of namespace {name}")
