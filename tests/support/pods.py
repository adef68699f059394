"""What the end-to-end tests watch: Pods of a workload pulling, failing to pull, running."""

from dataclasses import dataclass
from typing import Any

from kubernetes import client

PULL_FAILURES = frozenset({"ErrImagePull", "ImagePullBackOff"})
APP_LABEL = "e2e.cheiron/app"


@dataclass(frozen=True)
class PodState:
    """One Pod as a test reads it."""

    name: str
    phase: str
    waiting: str  # the container's waiting reason, or ""
    message: str  # and its message
    pull_secrets: tuple[str, ...]
    deleting: bool

    @property
    def running(self) -> bool:
        """Running, not on its way out."""
        return self.phase == "Running" and not self.deleting

    @property
    def pull_failing(self) -> bool:
        """Waiting because its image cannot be pulled."""
        return self.waiting in PULL_FAILURES and not self.deleting


def pod_states(core: client.CoreV1Api, namespace: str, app: str) -> list[PodState]:
    """The Pods of workload `app` (by its label)."""
    pods = core.list_namespaced_pod(namespace, label_selector=f"{APP_LABEL}={app}").items
    states = []
    for pod in pods:
        waiting = next(
            (s.state.waiting for s in pod.status.container_statuses or [] if s.state.waiting),
            None,
        )
        states.append(
            PodState(
                name=pod.metadata.name,
                phase=pod.status.phase or "",
                waiting=(waiting.reason or "") if waiting else "",
                message=(waiting.message or "") if waiting else "",
                pull_secrets=tuple(r.name for r in pod.spec.image_pull_secrets or []),
                deleting=pod.metadata.deletion_timestamp is not None,
            )
        )
    return states


def busybox_pod_spec(
    image: str, account: str = "default", policy: str = "IfNotPresent"
) -> dict[str, Any]:
    """A Pod spec that runs `image` (a busybox image) and sleeps."""
    return {
        "serviceAccountName": account,
        "terminationGracePeriodSeconds": 0,
        "automountServiceAccountToken": False,
        "containers": [
            {
                "name": "main",
                "image": image,
                "imagePullPolicy": policy,
                "command": ["/bin/sleep", "3600"],
            }
        ],
    }


def bare_pod(
    name: str,
    image: str,
    *,
    account: str = "default",
    pull_secrets: tuple[str, ...] = (),
    policy: str = "IfNotPresent",
) -> dict[str, Any]:
    """A Pod of its own (workload `name`), with the Secrets it names itself, if any."""
    spec = busybox_pod_spec(image, account, policy)
    if pull_secrets:
        spec["imagePullSecrets"] = [{"name": n} for n in pull_secrets]
    return {"metadata": {"name": name, "labels": {APP_LABEL: name}}, "spec": spec}


def deployment(
    name: str, image: str, replicas: int = 1, account: str = "default"
) -> dict[str, Any]:
    """A Deployment of `replicas` sleeping busybox Pods labelled as workload `name`."""
    labels = {APP_LABEL: name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": busybox_pod_spec(image, account),
            },
        },
    }
