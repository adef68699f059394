"""ServiceAccount mode on a real node: Pods of a private image start once a manager covers it."""

from cheiron.api.meta import IGNORE, TRUE
from tests.e2e.conftest import Env
from tests.support.managers import create_manager, manager_body, wait_for_pull_secrets
from tests.support.operator import OperatorProcess
from tests.support.pods import bare_pod, deployment, pod_states
from tests.support.poll import eventually

# A pull is refused, retried after a back-off, then pulled and started: on two shared cores.
POD_TIMEOUT = 120.0


def test_new_pods_start_once_a_manager_covers_the_registry(
    env: Env, operator: OperatorProcess
) -> None:
    core, namespace = env.core, env.namespace
    env.apps.create_namespaced_deployment(namespace, deployment("app", env.image))
    stuck = eventually(
        lambda: [p for p in pod_states(core, namespace, "app") if p.pull_failing],
        timeout=POD_TIMEOUT,
        what="the Pod failing to pull without credentials",
    )
    assert "401" in stuck[0].message or "unauthorized" in stuck[0].message.lower(), stuck[0]

    create_manager(env.custom, namespace, manager_body("pull", [env.entry()]))
    wait_for_pull_secrets(core, namespace, ["private-registry"])
    env.apps.patch_namespaced_deployment_scale("app", namespace, {"spec": {"replicas": 2}})

    running = eventually(
        lambda: [p.name for p in pod_states(core, namespace, "app") if p.running],
        timeout=POD_TIMEOUT,
        what="the new Pod Running",
    )
    assert stuck[0].name not in running
    # Without recreateStuckPods the Pod created before the manager is left as it was.
    states = {p.name: p for p in pod_states(core, namespace, "app")}
    assert states[stuck[0].name].pull_failing, states


def test_stuck_pods_are_replaced_and_start_without_touching_the_deployment(
    env: Env, operator: OperatorProcess
) -> None:
    core, namespace = env.core, env.namespace
    env.apps.create_namespaced_deployment(namespace, deployment("app", env.image, replicas=2))

    def both_stuck() -> list[str] | None:
        names = [p.name for p in pod_states(core, namespace, "app") if p.pull_failing]
        return names if len(names) == 2 else None

    stuck = eventually(
        both_stuck, timeout=POD_TIMEOUT, what="both Pods failing to pull without credentials"
    )
    before = env.apps.read_namespaced_deployment("app", namespace)

    body = manager_body("pull", [env.entry()])
    body["spec"]["recreateStuckPods"] = True
    create_manager(env.custom, namespace, body)

    def all_running() -> list[str] | None:
        states = pod_states(core, namespace, "app")
        running = [p.name for p in states if p.running]
        return running if len(running) == 2 and len(states) == 2 else None

    running = eventually(all_running, timeout=POD_TIMEOUT, what="two replaced Pods Running")
    assert not set(running) & set(stuck)
    after = env.apps.read_namespaced_deployment("app", namespace)
    assert after.metadata.generation == before.metadata.generation
    assert after.spec.template == before.spec.template


def test_an_ignored_accounts_pod_cannot_pull_even_an_image_already_on_the_node(
    env: Env, operator: OperatorProcess
) -> None:
    core, namespace = env.core, env.namespace
    core.create_namespaced_service_account(
        namespace, {"metadata": {"name": "ignored", "annotations": {IGNORE: TRUE}}}
    )
    create_manager(env.custom, namespace, manager_body("pull", [env.entry()]))
    wait_for_pull_secrets(core, namespace, ["private-registry"])
    # The image is on the node once this Pod runs: the next one may not use it without
    # credentials of its own (the kubelet checks, KubeletEnsureSecretPulledImages).
    core.create_namespaced_pod(namespace, bare_pod("served", env.image))
    eventually(
        lambda: [p for p in pod_states(core, namespace, "served") if p.running],
        timeout=POD_TIMEOUT,
        what="the served account's Pod Running",
    )

    core.create_namespaced_pod(namespace, bare_pod("opted-out", env.image, account="ignored"))
    (state,) = eventually(
        lambda: [p for p in pod_states(core, namespace, "opted-out") if p.pull_failing],
        timeout=POD_TIMEOUT,
        what="the ignored account's Pod failing to pull",
    )
    assert state.pull_secrets == ()
    assert core.read_namespaced_service_account("ignored", namespace).image_pull_secrets is None
