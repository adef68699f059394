"""Opt-in recovery: owned Pods stuck without cheiron's secrets are recreated, bare Pods never."""

import datetime

from kubernetes import client

from tests.support.managers import create_manager, events_for, inline, manager_body
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually, gone

IMAGE = "ghcr.io/team/app:1"


def _spec() -> client.V1PodSpec:
    return client.V1PodSpec(containers=[client.V1Container(name="app", image=IMAGE)])


def _stick(core: client.CoreV1Api, namespace: str, name: str) -> None:
    """What a kubelet would report: the container waits on ImagePullBackOff (no kubelet here)."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    status = {
        "status": {
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": now}],
            "containerStatuses": [
                {
                    "name": "app",
                    "image": IMAGE,
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "started": False,
                    "state": {
                        "waiting": {"reason": "ImagePullBackOff", "message": "pull access denied"}
                    },
                }
            ],
        }
    }
    core.patch_namespaced_pod_status(name, namespace, status)


def test_stuck_owned_pod_is_recreated_and_bare_pod_kept(
    operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    apps = client.AppsV1Api(core.api_client)
    eventually(lambda: core.read_namespaced_service_account("default", namespace))
    labels = {"app": "stuck"}
    apps.create_namespaced_replica_set(
        namespace,
        client.V1ReplicaSet(
            metadata=client.V1ObjectMeta(name="stuck"),
            spec=client.V1ReplicaSetSpec(
                replicas=1,
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels), spec=_spec()
                ),
            ),
        ),
    )
    first = eventually(
        lambda: core.list_namespaced_pod(namespace, label_selector="app=stuck").items,
        what="ReplicaSet Pod",
    )[0]
    core.create_namespaced_pod(
        namespace, client.V1Pod(metadata=client.V1ObjectMeta(name="bare"), spec=_spec())
    )
    for name in (first.metadata.name, "bare"):
        _stick(core, namespace, name)

    body = manager_body("m", [inline("gh")])
    body["spec"]["recreateStuckPods"] = True
    create_manager(custom, namespace, body)

    eventually(
        gone(lambda: core.read_namespaced_pod(first.metadata.name, namespace)),
        what="stuck Pod deleted",
    )

    def replacement() -> client.V1Pod | None:
        pods = core.list_namespaced_pod(namespace, label_selector="app=stuck").items
        fresh = [p for p in pods if p.metadata.uid != first.metadata.uid]
        return fresh[0] if fresh else None

    new = eventually(replacement, what="replacement Pod")
    # Born after the ServiceAccount was patched: the admission plugin gave it the secret.
    assert [r.name for r in new.spec.image_pull_secrets or []] == ["gh"]
    assert core.read_namespaced_pod("bare", namespace).metadata.uid
    reasons = [e.reason for e in events_for(core, namespace, first.metadata.name)]
    assert "RecreatedForPullSecrets" in reasons


def test_pod_with_its_own_list_is_told_about_the_bypass(
    operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    create_manager(custom, namespace, manager_body("m", [inline("gh")]))
    eventually(lambda: core.read_namespaced_secret("gh", namespace))
    eventually(
        lambda: (
            [
                r.name
                for r in core.read_namespaced_service_account(
                    "default", namespace
                ).image_pull_secrets
                or []
            ]
            == ["gh"]
        )
    )
    spec = _spec()
    spec.image_pull_secrets = [client.V1LocalObjectReference(name="own")]
    core.create_namespaced_pod(
        namespace, client.V1Pod(metadata=client.V1ObjectMeta(name="own-list"), spec=spec)
    )
    events = eventually(
        lambda: [
            e
            for e in events_for(core, namespace, "own-list")
            if e.reason == "ServiceAccountSecretsBypassed"
        ],
        what="bypass Event",
    )
    assert "gh" in events[0].message
