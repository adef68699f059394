"""Pod mode on a real node: the webhook gives a Pod the Secret, and the Pod starts."""

from kubernetes import client

from tests.e2e.conftest import Env
from tests.support.managers import create_manager, manager_body, wait_until_ready
from tests.support.operator import OperatorProcess
from tests.support.pods import bare_pod, pod_states
from tests.support.poll import eventually

POD_TIMEOUT = 120.0


def test_a_pod_with_no_secrets_of_its_own_starts(env: Env, operator: OperatorProcess) -> None:
    create_manager(env.custom, env.namespace, manager_body("pull", [env.entry()], mode="Pod"))
    # Ready only once this operator's webhook serves Pod mode: then new Pods are patched.
    wait_until_ready(env.custom, env.namespace, "pull")
    env.core.create_namespaced_pod(env.namespace, bare_pod("app", env.image))

    (state,) = eventually(
        lambda: [p for p in pod_states(env.core, env.namespace, "app") if p.running],
        timeout=POD_TIMEOUT,
        what="the Pod Running",
    )
    assert state.pull_secrets == ("private-registry",)
    account = env.core.read_namespaced_service_account("default", env.namespace)
    # Pod mode leaves the ServiceAccount alone: the Pod got the Secret from the webhook.
    assert not account.image_pull_secrets
    assert isinstance(account, client.V1ServiceAccount)
