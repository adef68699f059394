"""A cluster manager follows namespaces as they come; Pod mode never touches a Pod's spec."""

import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client

from cheiron.api.meta import NEEDS_RECREATION, RECONCILABLE, RECONCILE_WITH
from tests.support.managers import (
    create_manager,
    delete_manager,
    events_for,
    get_manager,
    inline,
    manager_body,
    pull_secrets,
    ready_condition,
    wait_for_pull_secrets,
)
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually


@pytest.fixture
def cluster_manager(custom: client.CustomObjectsApi) -> Iterator[str]:
    name = f"cluster-{uuid.uuid4().hex[:6]}"
    yield name
    delete_manager(custom, None, name)


def test_cluster_manager_reaches_new_namespaces_and_respects_exclusions(
    operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
    cluster_manager: str,
) -> None:
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="source"),
            type="kubernetes.io/dockerconfigjson",
            string_data={
                ".dockerconfigjson": '{"auths":{"quay.io":{"username":"u","password":"p"}}}'
            },
        ),
    )
    excluded = f"{namespace}-x"
    body = manager_body(
        cluster_manager,
        [
            inline("hub-pull", "docker.io"),
            {"existingSecretRef": {"name": "source", "namespace": namespace}},
        ],
        cluster=True,
    )
    body["spec"]["excludeNamespaces"] = [excluded]
    create_manager(custom, None, body)
    wait_for_pull_secrets(core, namespace, ["hub-pull", "source"])

    fresh = f"{namespace}-new"
    for ns in (fresh, excluded):
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    try:
        wait_for_pull_secrets(core, fresh, ["hub-pull", "source"])
        copy = core.read_namespaced_secret("source", fresh)
        assert copy.metadata.labels["cheiron.anny.co/owner-uid"]
        eventually(lambda: core.read_namespaced_service_account("default", excluded))
        assert pull_secrets(core, excluded) == []
        assert pull_secrets(core, "kube-system", "default") == []
    finally:
        for ns in (fresh, excluded):
            core.delete_namespace(ns)


def test_pod_mode_flags_existing_pods_without_writing_their_spec(
    operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    eventually(lambda: core.read_namespaced_service_account("default", namespace))
    pod = core.create_namespaced_pod(
        namespace,
        client.V1Pod(
            metadata=client.V1ObjectMeta(name="early"),
            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="ghcr.io/x/y:1")]),
        ),
    )
    create_manager(custom, namespace, manager_body("m", [inline("gh")], mode="Pod"))

    def flagged() -> client.V1Pod | None:
        current = core.read_namespaced_pod("early", namespace)
        return (
            current
            if (current.metadata.annotations or {}).get(NEEDS_RECREATION) == "true"
            else None
        )

    current = eventually(flagged, what="Pod flagged for recreation")
    assert current.metadata.annotations[RECONCILABLE] == "true"
    assert current.metadata.annotations[RECONCILE_WITH] == "gh"
    assert current.spec.image_pull_secrets == pod.spec.image_pull_secrets
    eventually(
        lambda: [e for e in events_for(core, namespace, "early") if e.reason == "NeedsRecreation"],
        what="NeedsRecreation event",
    )
    # Pod mode leaves ServiceAccounts alone.
    assert pull_secrets(core, namespace) == []
    eventually(
        lambda: (
            (get_manager(custom, namespace, "m").get("status") or {}).get("podsNeedingRecreation")
            == 1
        ),
        what="status counts the Pod",
    )
    # This operator serves no admission webhook: Pods created from now on would get no
    # secrets, and the manager says so instead of claiming Ready.
    condition = eventually(
        lambda: ready_condition(get_manager(custom, namespace, "m")),
        what="the Ready condition",
    )
    assert (condition["status"], condition["reason"]) == ("False", "WebhookNotServed")
    assert "--webhook-port" in condition["message"]
    assert get_manager(custom, namespace, "m")["status"]["phase"] == "Degraded"
