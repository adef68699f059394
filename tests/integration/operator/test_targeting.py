"""Each targeting rule on the real control plane, and namespaces that stop matching."""

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client

from tests.support.managers import (
    create_manager,
    delete_manager,
    inline,
    manager_body,
    pull_secrets,
    wait_for_pull_secrets,
)
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually

ClusterManager = Callable[[dict[str, Any]], str]


@pytest.fixture
def cluster_manager(custom: client.CustomObjectsApi) -> Iterator[ClusterManager]:
    """Create cluster managers with a given spec extension; deleted after the test."""
    names: list[str] = []

    def make(extra: dict[str, Any]) -> str:
        name = f"target-{uuid.uuid4().hex[:6]}"
        body = manager_body(name, [inline(name)], cluster=True)
        body["spec"].update(extra)
        create_manager(custom, None, body)
        names.append(name)
        return name

    yield make
    for name in names:
        delete_manager(custom, None, name)


def _secret_names(core: client.CoreV1Api, namespace: str) -> list[str]:
    return [s.metadata.name for s in core.list_namespaced_secret(namespace).items]


@pytest.fixture
def second(core: client.CoreV1Api, namespace: str) -> Iterator[str]:
    name = f"{namespace}-2"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    eventually(lambda: core.read_namespaced_service_account("default", name))
    yield name
    core.delete_namespace(name)


def test_label_rule_and_a_namespace_that_stops_matching(
    operator: OperatorProcess,
    core: client.CoreV1Api,
    cluster_manager: ClusterManager,
    namespace: str,
    second: str,
) -> None:
    core.patch_namespace(namespace, {"metadata": {"labels": {"pulls": namespace}}})
    secret = cluster_manager(
        {"target": {"namespaces": {"labels": [{"matchLabels": {"pulls": namespace}}]}}}
    )
    wait_for_pull_secrets(core, namespace, [secret])
    assert secret not in _secret_names(core, second)
    assert pull_secrets(core, second) == []

    core.patch_namespace(namespace, {"metadata": {"labels": {"pulls": None}}})
    wait_for_pull_secrets(core, namespace, [])
    eventually(lambda: secret not in _secret_names(core, namespace), what="Secret removed")


def test_annotation_and_name_rules(
    operator: OperatorProcess,
    core: client.CoreV1Api,
    cluster_manager: ClusterManager,
    namespace: str,
    second: str,
) -> None:
    core.patch_namespace(namespace, {"metadata": {"annotations": {"pulls": namespace}}})
    secret = cluster_manager(
        {
            "target": {
                "namespaces": {
                    "annotations": [{"matchAnnotations": {"pulls": namespace}}],
                    "names": [second],
                }
            }
        }
    )
    wait_for_pull_secrets(core, namespace, [secret])
    wait_for_pull_secrets(core, second, [secret])


def test_namespaces_with_pods(
    operator: OperatorProcess,
    core: client.CoreV1Api,
    cluster_manager: ClusterManager,
    namespace: str,
    second: str,
) -> None:
    marker = {"uses-registry": namespace}
    secret = cluster_manager(
        {"target": {"namespacesWithPods": {"labels": [{"matchLabels": marker}]}}}
    )
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="marker", labels=marker),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="ghcr.io/x/y:1")]),
    )
    eventually(lambda: core.read_namespaced_service_account("default", namespace))
    core.create_namespaced_pod(namespace, pod)
    wait_for_pull_secrets(core, namespace, [secret])
    assert pull_secrets(core, second) == []

    core.delete_namespaced_pod("marker", namespace, grace_period_seconds=0)
    wait_for_pull_secrets(core, namespace, [])
    eventually(lambda: secret not in _secret_names(core, namespace), what="Secret removed")


def test_service_account_selector(
    operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    for name, labels in (("builder", None), ("labelled", {"pull": "yes"}), ("other", None)):
        core.create_namespaced_service_account(
            namespace,
            client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name, labels=labels)),
        )
    body = manager_body("m", [inline("gh")])
    body["spec"]["serviceAccountSelector"] = {"names": ["builder"]}
    create_manager(custom, namespace, body)
    body = manager_body("by-label", [inline("quay", "quay.io")])
    body["spec"]["serviceAccountSelector"] = {"labelSelector": {"matchLabels": {"pull": "yes"}}}
    create_manager(custom, namespace, body)
    wait_for_pull_secrets(core, namespace, ["gh"], account="builder")
    wait_for_pull_secrets(core, namespace, ["quay"], account="labelled")
    assert pull_secrets(core, namespace, "other") == []
    assert pull_secrets(core, namespace, "default") == []
