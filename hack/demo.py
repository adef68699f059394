"""`make demo`: Pods stuck in ImagePullBackOff start once cheiron, installed by its chart, is told.

Runs as root (a real node: containerd, kubelet, kube-proxy; see README "A real node"):
a control plane and one node, a private registry of its own (TLS, htpasswd) holding a small
busybox image, a Deployment of that image with no credentials anywhere, cheiron installed
with `helm install` from charts/cheiron (its image built by `make image`, loaded into the
node), then one ImagePullSecretManager. Pods are printed as they change. Everything stops at
the end; DEMO_KEEP=1 keeps it running until Ctrl-C.
"""

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kubernetes import client, config

from cheiron import API_GROUP, API_VERSION
from cheiron.devcluster import Node, plane_for_node
from cheiron.devcluster.images import runnable_image, write_layout
from tests.support.oci import push  # the tests' registry helpers: one registry, one way
from tests.support.registry import Registry
from tests.support.tools import helm

ROOT = Path(__file__).parents[1]
IMAGE_ARCHIVE = ROOT / ".tools" / "image" / "cheiron.tar"
NAMESPACE = "demo"
USER = "demo-robot"
BOLD, PLAIN = ("\033[1m", "\033[0m") if sys.stdout.isatty() else ("", "")


def step(text: str) -> None:
    """A heading."""
    print(f"\n{BOLD}== {text}{PLAIN}", flush=True)


def pod_line(pod: client.V1Pod) -> str:
    """NAME  PHASE  REASON (message) of a Pod, as `kubectl get pods` would sum it up."""
    status = pod.status
    reason = ""
    for container in status.container_statuses or []:
        waiting = container.state.waiting
        if waiting is not None:
            message = (waiting.message or "").split("\n")[0]
            if "401" in message or "nauthorized" in message:
                message = "401 Unauthorized from the registry"
            reason = f"{waiting.reason} ({message})" if message else waiting.reason
        elif container.state.running is not None:
            reason = "Ready" if container.ready else "started"
    secrets_ = ",".join(r.name for r in pod.spec.image_pull_secrets or []) or "-"
    gone = " (terminating)" if pod.metadata.deletion_timestamp else ""
    return f"{pod.metadata.name:<28} {status.phase:<8} pull secrets: {secrets_:<17} {reason}{gone}"


def watch_pods(
    core: client.CoreV1Api,
    namespace: str,
    selector: str,
    done: Callable[[list[client.V1Pod]], bool],
    timeout: float,
) -> float:
    """Print each Pod line when it changes, until `done`; the seconds it took."""
    start = time.monotonic()
    last: dict[str, str] = {}
    while time.monotonic() - start < timeout:
        pods = core.list_namespaced_pod(namespace, label_selector=selector).items
        for pod in pods:
            line = pod_line(pod)
            if last.get(pod.metadata.name) != line:
                last[pod.metadata.name] = line
                print(f"  +{time.monotonic() - start:5.1f}s  {line}", flush=True)
        for name in sorted(set(last) - {p.metadata.name for p in pods}):
            del last[name]
            print(f"  +{time.monotonic() - start:5.1f}s  {name:<28} deleted", flush=True)
        if done(pods):
            return time.monotonic() - start
        time.sleep(0.25)
    raise SystemExit(f"demo: timed out after {timeout:.0f}s")


def running(pod: client.V1Pod) -> bool:
    """Running and not on its way out."""
    return pod.status.phase == "Running" and pod.metadata.deletion_timestamp is None


def stuck(pod: client.V1Pod) -> bool:
    """Waiting on an image it cannot pull."""
    return any(
        c.state.waiting is not None and c.state.waiting.reason == "ImagePullBackOff"
        for c in pod.status.container_statuses or []
    )


def main() -> None:
    """The demo, start to end."""
    if os.geteuid() != 0:
        raise SystemExit("demo: a real node needs root (sudo make demo)")
    if not IMAGE_ARCHIVE.exists():
        raise SystemExit(f"demo: {IMAGE_ARCHIVE} is missing: `make image` builds it")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    work = Path(tempfile.mkdtemp(prefix="cheiron-demo-"))
    password = secrets.token_urlsafe(12)

    step("a control plane and one real node (containerd, kubelet, kube-proxy)")
    started = time.monotonic()
    with (
        plane_for_node() as plane,
        Node(plane) as node,
        Registry(auth=(USER, password), tls=True) as registry,
    ):
        print(f"  ready in {time.monotonic() - started:.1f}s; KUBECONFIG={plane.kubeconfig_path}")
        node.trust_registry(registry.host, registry.ca_path)
        layout = work / "layout"
        write_layout(runnable_image(marker="demo"), layout, "1")
        push(layout, "private/app:1", registry)
        image = f"{registry.host}/private/app:1"
        print(f"  a private registry at {registry.host} (TLS, htpasswd) holds {image}")
        node.load_image(IMAGE_ARCHIVE, "localhost/cheiron")
        print("  cheiron's image (make image) loaded into the node as localhost/cheiron:dev")

        api = config.new_client_from_config(config_file=str(plane.kubeconfig_path))
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        custom = client.CustomObjectsApi(api)

        step(f"Deployment {NAMESPACE}/app: 2 replicas of {image}, no credentials anywhere")
        core.create_namespace({"metadata": {"name": NAMESPACE}})
        labels = {"app": "app"}
        apps.create_namespaced_deployment(
            NAMESPACE,
            {
                "metadata": {"name": "app"},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "terminationGracePeriodSeconds": 0,
                            "containers": [
                                {"name": "app", "image": image, "command": ["sleep", "3600"]}
                            ],
                        },
                    },
                },
            },
        )
        watch_pods(
            core, NAMESPACE, "app=app", lambda pods: len(pods) == 2 and all(map(stuck, pods)), 120
        )

        step("helm install cheiron charts/cheiron (2 replicas, leader election, webhook)")
        release = ["--namespace", "cheiron-system", "--kubeconfig", str(plane.kubeconfig_path)]
        subprocess.run(  # noqa: S603 - the pinned helm, fixed arguments
            [
                str(helm()),
                "install",
                "cheiron",
                str(ROOT / "charts" / "cheiron"),
                *release,
                "--create-namespace",
                "--set=image.repository=localhost/cheiron",
                "--set=image.tag=dev",
                "--set=image.pullPolicy=Never",
            ],
            check=True,
        )
        watch_pods(
            core,
            "cheiron-system",
            "app.kubernetes.io/name=cheiron",
            lambda pods: sum(1 for p in pods if running(p) and "Ready" in pod_line(p)) == 1,
            180,
        )

        step(f"kubectl apply: an ImagePullSecretManager in {NAMESPACE} (recreateStuckPods)")
        core.create_namespaced_secret(
            NAMESPACE,
            {
                "metadata": {"name": "registry-login"},
                "stringData": {"username": USER, "password": password},
            },
        )
        manager = {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": "ImagePullSecretManager",
            "metadata": {"name": "private-registry"},
            "spec": {
                "recreateStuckPods": True,
                "secrets": [
                    {
                        "name": "private-registry",
                        "registry": registry.host,
                        "credentialsSecretRef": {"name": "registry-login"},
                    }
                ],
            },
        }
        print(
            f"  spec: registry {registry.host}, credentialsSecretRef registry-login, "
            "recreateStuckPods: true"
        )
        applied = time.monotonic()
        custom.create_namespaced_custom_object(
            API_GROUP, API_VERSION, NAMESPACE, "imagepullsecretmanagers", manager
        )
        first: list[float] = []

        def all_running(pods: list[client.V1Pod]) -> bool:
            live = [p for p in pods if p.metadata.deletion_timestamp is None]
            if not first and any(map(running, live)):
                first.append(time.monotonic() - applied)
            return len(live) == 2 and all(map(running, live))

        took = watch_pods(core, NAMESPACE, "app=app", all_running, 120)
        step(
            f"the first Pod Running {first[0]:.1f}s after the manager was applied; both {took:.1f}s"
        )
        if os.environ.get("DEMO_KEEP") == "1":
            step(f"running; KUBECONFIG={plane.kubeconfig_path}; Ctrl-C to stop")
            signal.pause()
        step("stopping (the node undoes every change it made to this host)")


if __name__ == "__main__":
    main()
