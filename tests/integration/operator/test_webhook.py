"""Pod mode through the admission webhook: the apiserver calls it over HTTPS on 127.0.0.1."""

from collections.abc import Iterator

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from cheiron.api.meta import IGNORE, RECONCILE_WITH, RECONCILED
from cheiron.devcluster import ControlPlane
from cheiron.devcluster.cluster import free_port
from tests.support.managers import (
    create_manager,
    get_manager,
    inline,
    manager_body,
    ready_condition,
)
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually

CONFIGURATION = "cheiron"


@pytest.fixture(scope="module")
def webhook_operator(
    control_plane: ControlPlane,
    crds: None,
    api_client: client.ApiClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    log = tmp_path_factory.mktemp("webhook") / "operator.log"
    args = (
        "--webhook-port",
        str(free_port()),
        "--webhook-host",
        "127.0.0.1",
        "--webhook-serviceaccounts",
    )
    proc = OperatorProcess(control_plane.kubeconfig_path, log, args)
    proc.start()
    yield proc
    proc.stop()
    admission = client.AdmissionregistrationV1Api(api_client)
    try:
        admission.delete_mutating_webhook_configuration(CONFIGURATION)
    except ApiException as e:
        if e.status != 404:
            raise


def _pod(
    name: str, own: list[str] | None = None, annotations: dict[str, str] | None = None
) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, annotations=annotations),
        spec=client.V1PodSpec(
            containers=[client.V1Container(name="c", image="ghcr.io/team/app:1")],
            image_pull_secrets=[client.V1LocalObjectReference(name=n) for n in own or []],
        ),
    )


def _names(pod: client.V1Pod) -> list[str]:
    return [r.name for r in pod.spec.image_pull_secrets or []]


def _pod_mode_namespace(
    core: client.CoreV1Api, custom: client.CustomObjectsApi, namespace: str
) -> None:
    create_manager(
        custom, namespace, manager_body("m", [inline("gh"), inline("hub", "docker.io")], mode="Pod")
    )
    eventually(lambda: core.read_namespaced_secret("gh", namespace), what="Secret gh")
    eventually(lambda: core.read_namespaced_secret("hub", namespace), what="Secret hub")
    eventually(lambda: core.read_namespaced_service_account("default", namespace))
    # Served by this operator's webhook: Pod mode can work, the manager is Ready.
    eventually(
        lambda: (
            (c := ready_condition(get_manager(custom, namespace, "m"))) is not None
            and c["status"] == "True"
        ),
        what="a Pod-mode manager Ready with the webhook served",
    )


def test_configuration_excludes_system_namespaces(
    webhook_operator: OperatorProcess, api_client: client.ApiClient
) -> None:
    config = client.AdmissionregistrationV1Api(api_client).read_mutating_webhook_configuration(
        CONFIGURATION
    )
    hooks = {h.name: h for h in config.webhooks}
    assert set(hooks) == {"pods.cheiron.anny.co", "serviceaccounts.cheiron.anny.co"}
    hook = hooks["pods.cheiron.anny.co"]
    assert hook.client_config.ca_bundle
    assert hook.client_config.url.startswith("https://127.0.0.1:")
    assert hook.failure_policy == "Ignore"
    assert hook.side_effects == "None"
    assert hook.timeout_seconds <= 5
    excluded = hook.namespace_selector.match_expressions[0]
    assert excluded.operator == "NotIn"
    assert {"kube-system", "cheiron-system"} <= set(excluded.values)


def test_new_pod_is_born_with_the_secrets(
    webhook_operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    _pod_mode_namespace(core, custom, namespace)
    created = core.create_namespaced_pod(namespace, _pod("app"))
    assert _names(created) == ["gh", "hub"]
    stored = core.read_namespaced_pod("app", namespace)
    assert _names(stored) == ["gh", "hub"]
    assert stored.metadata.annotations[RECONCILED] == "true"
    assert stored.metadata.annotations[RECONCILE_WITH] == "gh,hub"


def test_pod_keeps_its_own_entries_and_nothing_doubles(
    webhook_operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    _pod_mode_namespace(core, custom, namespace)
    created = core.create_namespaced_pod(namespace, _pod("own", own=["mine", "hub"]))
    assert _names(created) == ["mine", "hub", "gh"]


def test_ignored_pod_and_namespace_are_untouched(
    webhook_operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    _pod_mode_namespace(core, custom, namespace)
    quiet = core.create_namespaced_pod(namespace, _pod("quiet", annotations={IGNORE: "true"}))
    assert _names(quiet) == []
    core.patch_namespace(namespace, {"metadata": {"annotations": {IGNORE: "true"}}})
    eventually(
        lambda: not _names(core.create_namespaced_pod(namespace, _pod(f"probe-{free_port()}"))),
        what="namespace opt-out seen by the webhook",
    )


def test_pod_in_a_brand_new_namespace(
    webhook_operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    body = manager_body(f"pods-{namespace}", [inline("cluster-gh")], mode="Pod", cluster=True)
    body["spec"]["excludeNamespaces"] = []
    create_manager(custom, None, body)
    # The manager is known to the operator before the namespace appears.
    eventually(lambda: core.read_namespaced_secret("cluster-gh", namespace), what="cluster Secret")
    fresh = f"{namespace}-fresh"
    try:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=fresh)))
        eventually(lambda: core.read_namespaced_service_account("default", fresh))
        pod = core.create_namespaced_pod(fresh, _pod("first"))
        # Named at creation even if its Secret lands a moment later: the kubelet retries.
        assert "cluster-gh" in _names(pod)
        eventually(lambda: core.read_namespaced_secret("cluster-gh", fresh), timeout=10)
    finally:
        custom.delete_cluster_custom_object(
            "cheiron.anny.co",
            "v1alpha1",
            "clusterimagepullsecretmanagers",
            body["metadata"]["name"],
        )
        core.delete_namespace(fresh)


def test_service_account_is_born_with_its_secrets(
    webhook_operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    create_manager(custom, namespace, manager_body("m", [inline("gh")]))
    eventually(lambda: core.read_namespaced_secret("gh", namespace), what="Secret gh")
    created = core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="newborn"))
    )
    # In the create response itself: no later patch was needed.
    assert [r.name for r in created.image_pull_secrets] == ["gh"]
    assert created.metadata.annotations[RECONCILED] == "true"


def test_webhook_down_does_not_block_pods(
    webhook_operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    _pod_mode_namespace(core, custom, namespace)
    webhook_operator.stop()
    created = core.create_namespaced_pod(namespace, _pod("while-down"))
    assert _names(created) == []
