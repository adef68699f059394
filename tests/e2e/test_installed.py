"""cheiron installed as users install it: its image on the node, its chart, two replicas.

The image is the one hack/image/build.sh builds without a Docker engine (`make image`); the
node imports it as if pulled. `helm install` of charts/cheiron then runs it as Pods with the
chart's ServiceAccount and RBAC, leader election between two replicas, probes, and the
admission webhook behind its Service (the apiserver reaches it through kube-proxy).
"""

import contextlib
import http.client
import json
import os
import shlex
import socket
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from cheiron.devcluster import ControlPlane, Node
from tests.e2e.conftest import Env
from tests.support.dockerfile import stages
from tests.support.managers import (
    create_manager,
    manager_body,
    wait_for_pull_secrets,
    wait_until_ready,
)
from tests.support.pods import bare_pod, deployment, pod_states
from tests.support.poll import eventually, gone
from tests.support.tools import helm, kubectl

ROOT = Path(__file__).parents[2]
CHART = ROOT / "charts" / "cheiron"
IMAGE_ARCHIVE = ROOT / ".tools" / "image" / "cheiron.tar"
IMAGE = "localhost/cheiron"
RELEASE_NAMESPACE = "cheiron-system"
LEASE = "cheiron"
# Two replicas start on two shared cores, one leads, its caches sync and /readyz turns green.
INSTALL_TIMEOUT = 180.0
POD_TIMEOUT = 120.0


def image_archive() -> Path:
    """The archive `make image` writes; the test fails, saying so, if it is not there."""
    if not IMAGE_ARCHIVE.exists():
        pytest.fail(f"{IMAGE_ARCHIVE} is missing: `make image` (hack/image/build.sh) builds it")
    return IMAGE_ARCHIVE


@pytest.fixture(scope="module")
def operator_image(node: Node) -> str:
    """The operator image hack/image/build.sh built, loaded into the node; its reference."""
    node.load_image(image_archive(), IMAGE)
    return f"{IMAGE}:dev"


def read_image(archive: Path) -> tuple[dict[str, Any], set[str]]:
    """The image's configuration and the paths of the files in its layers."""
    with tarfile.open(archive) as outer:

        def member(name: str) -> Any:
            found = outer.extractfile(f"./{name}")
            assert found is not None, name
            return found

        def blob(digest: str) -> Any:
            return member(f"blobs/{digest.replace(':', '/')}")

        index = json.load(member("index.json"))
        manifest = json.load(blob(index["manifests"][0]["digest"]))
        config = json.load(blob(manifest["config"]["digest"]))
        paths: set[str] = set()
        for layer in manifest["layers"]:
            with tarfile.open(fileobj=blob(layer["digest"]), mode="r|*") as files:
                paths.update(m.name.removeprefix("./") for m in files)
    return config, paths


def test_the_image_is_what_the_dockerfile_builds() -> None:
    config, paths = read_image(image_archive())
    final = dict(stages()[-1])
    run = config["config"]
    assert run["User"] == final["USER"]
    assert run["Entrypoint"] == json.loads(final["ENTRYPOINT"])
    assert run["Cmd"] == json.loads(final["CMD"])
    assert set(run["ExposedPorts"]) == {f"{port}/tcp" for port in final["EXPOSE"].split()}
    env = dict(e.split("=", 1) for e in run["Env"])
    for name, value in (w.split("=", 1) for w in shlex.split(final["ENV"])):
        if value.endswith(":$PATH"):
            assert env[name].startswith(value.removesuffix("$PATH")), (name, env[name])
        else:
            assert env[name] == value, name
    # skopeo for image backups; cheiron and its locked dependencies, byte code compiled.
    assert "usr/bin/skopeo" in paths
    assert "app/.venv/bin/cheiron" in paths
    assert any(p.startswith("app/.venv/lib/python3.11/site-packages/kopf/") for p in paths)
    assert any(p.endswith(".pyc") and "/cheiron/" in p for p in paths)
    # Without the test group.
    assert not any("site-packages/pytest/" in p for p in paths)


def operator_pods(core: client.CoreV1Api) -> list[client.V1Pod]:
    """The chart's operator Pods, not on their way out."""
    pods = core.list_namespaced_pod(
        RELEASE_NAMESPACE, label_selector="app.kubernetes.io/name=cheiron"
    ).items
    return [p for p in pods if p.metadata.deletion_timestamp is None]


def is_ready(pod: client.V1Pod) -> bool:
    """The Pod's Ready condition is True."""
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def describe(core: client.CoreV1Api, node: Node) -> str:
    """The operator Pods' states and logs, for the message of a failed wait."""
    apiserver_log = node.plane.workdir / "kube-apiserver.log" if node.plane.workdir else None
    calls = [
        line
        for line in (apiserver_log.read_text().splitlines() if apiserver_log else [])
        if "webhook" in line and "cheiron" in line
    ]
    parts = ["--- the apiserver on cheiron's webhook:", *calls[-10:]]
    for pod in core.list_namespaced_pod(RELEASE_NAMESPACE).items:
        name = pod.metadata.name
        log = node.container_log(RELEASE_NAMESPACE, name, "cheiron")
        parts.append(f"--- {name}: {pod.status}\n{log[-3000:]}")
    return "\n".join(parts)


def connects(host: str, port: int) -> bool:
    """A TCP connection to host:port is accepted."""
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        return False
    return True


def webhook_endpoints(core: client.CoreV1Api) -> list[str]:
    """The ready addresses behind the webhook's Service."""
    slices = client.DiscoveryV1Api(core.api_client).list_namespaced_endpoint_slice(
        RELEASE_NAMESPACE, label_selector="kubernetes.io/service-name=cheiron-webhook"
    )
    return sorted(
        address
        for item in slices.items
        for endpoint in item.endpoints or []
        if endpoint.conditions.ready
        for address in endpoint.addresses
    )


def wait_for_a_leader(core: client.CoreV1Api, node: Node, others_than: str = "") -> str:
    """Two replicas Running, one of them Ready (the leader), not `others_than`; its name."""

    def leader() -> str | None:
        pods = operator_pods(core)
        running = [p for p in pods if p.status.phase == "Running"]
        ready = [p.metadata.name for p in running if is_ready(p)]
        if len(running) == 2 and len(ready) == 1 and ready[0] != others_than:
            return ready[0]
        return None

    try:
        found: str = eventually(leader, timeout=INSTALL_TIMEOUT, what="a leader and a standby")
    except AssertionError as e:
        raise AssertionError(f"{e}\n{describe(core, node)}") from e
    return found


def helm_install(kubeconfig: Path, image: str) -> Callable[[], object]:
    """`helm install` of charts/cheiron with the node's copy of `image`; what uninstalls it."""
    repository, _colon, tag = image.rpartition(":")
    base = [str(helm()), "--kubeconfig", str(kubeconfig), "--namespace", RELEASE_NAMESPACE]
    subprocess.run(
        [
            *base,
            "install",
            "cheiron",
            str(CHART),
            "--create-namespace",
            f"--set=image.repository={repository}",
            f"--set=image.tag={tag}",
            # The node has it; nothing to pull it from.
            "--set=image.pullPolicy=Never",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return lambda: subprocess.run(
        [*base, "uninstall", "cheiron", "--wait"], check=False, capture_output=True
    )


def kustomize_install(kubeconfig: Path, image: str, workdir: Path) -> Callable[[], object]:
    """`kubectl apply -k` of an overlay of config/cluster naming `image`; what removes it.

    The removal leaves the CRDs, as `helm uninstall` does: the tier's other tests use them.
    """
    repository, _colon, tag = image.rpartition(":")
    overlay = {
        "resources": [os.path.relpath(ROOT / "config" / "cluster", workdir)],
        "images": [{"name": "ghcr.io/anny-co/cheiron", "newName": repository, "newTag": tag}],
        "patches": [
            {
                "target": {"kind": "Deployment", "name": "cheiron"},
                "patch": json.dumps(
                    [
                        {
                            "op": "replace",
                            "path": "/spec/template/spec/containers/0/imagePullPolicy",
                            "value": "Never",
                        }
                    ]
                ),
            }
        ],
    }
    (workdir / "kustomization.yaml").write_text(json.dumps(overlay))
    base = [str(kubectl()), "--kubeconfig", str(kubeconfig)]
    subprocess.run([*base, "apply", "-k", str(workdir)], check=True, capture_output=True)
    rendered = subprocess.run(
        [*base, "kustomize", str(workdir)], check=True, capture_output=True, text=True
    ).stdout
    documents = [d for d in yaml.safe_load_all(rendered) if d]
    kept = [d for d in documents if d["kind"] != "CustomResourceDefinition"]
    (workdir / "without-crds.yaml").write_text(yaml.safe_dump_all(kept))
    return lambda: subprocess.run(
        [*base, "delete", "--wait", "-f", str(workdir / "without-crds.yaml")],
        check=False,
        capture_output=True,
    )


@pytest.fixture(scope="module", params=["helm", "kustomize"])
def installed(  # noqa: PLR0917 - fixtures arrive as arguments
    request: pytest.FixtureRequest,
    control_plane: ControlPlane,
    api_client: client.ApiClient,
    node: Node,
    operator_image: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[None]:
    """The operator installed by the chart or by config/cluster, until one replica leads."""
    kubeconfig = control_plane.kubeconfig_path
    if request.param == "helm":
        uninstall = helm_install(kubeconfig, operator_image)
    else:
        uninstall = kustomize_install(kubeconfig, operator_image, tmp_path_factory.mktemp("k"))
    core = client.CoreV1Api(api_client)
    try:
        wait_for_a_leader(core, node)
        yield
    finally:
        uninstall()
        with contextlib.suppress(ApiException):
            core.delete_namespace(RELEASE_NAMESPACE)
        # The next install recreates it: wait until the namespace controller emptied it.
        eventually(
            gone(lambda: core.read_namespace(RELEASE_NAMESPACE)),
            timeout=INSTALL_TIMEOUT,
            what=f"namespace {RELEASE_NAMESPACE} deleted",
        )


def probe(pod: client.V1Pod, path: str) -> int:
    """The status code of the operator Pod's probe endpoint `path` (port 9090)."""
    conn = http.client.HTTPConnection(pod.status.pod_ip, 9090, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def test_both_replicas_are_live_and_only_the_leader_is_ready(
    env: Env, installed: None, node: Node
) -> None:
    leader = wait_for_a_leader(env.core, node)
    pods = operator_pods(env.core)
    # What the kubelet's probes ask, asked from this host as the kubelet does.
    assert {p.metadata.name: probe(p, "/healthz") for p in pods} == {
        p.metadata.name: 200 for p in pods
    }
    ready = {p.metadata.name: probe(p, "/readyz") == 200 for p in pods}
    assert ready == {p.metadata.name: p.metadata.name == leader for p in pods}
    assert all(c.restart_count == 0 for p in pods for c in p.status.container_statuses)


def test_a_manager_applied_after_the_install_gets_pods_running(env: Env, installed: None) -> None:
    create_manager(env.custom, env.namespace, manager_body("pull", [env.entry()]))
    wait_for_pull_secrets(env.core, env.namespace, ["private-registry"])
    env.apps.create_namespaced_deployment(env.namespace, deployment("app", env.image, replicas=2))

    eventually(
        lambda: len([p for p in pod_states(env.core, env.namespace, "app") if p.running]) == 2,
        timeout=POD_TIMEOUT,
        what="both Pods Running",
    )


def test_the_standby_takes_over_and_the_webhook_keeps_admitting(
    env: Env, installed: None, node: Node
) -> None:
    core = env.core
    leader = wait_for_a_leader(core, node)
    coordination = client.CoordinationV1Api(core.api_client)
    held_by = coordination.read_namespaced_lease(LEASE, RELEASE_NAMESPACE).spec.holder_identity
    core.delete_namespaced_pod(leader, RELEASE_NAMESPACE)

    successor = wait_for_a_leader(core, node, others_than=leader)
    lease = coordination.read_namespaced_lease(LEASE, RELEASE_NAMESPACE)
    assert lease.spec.holder_identity != held_by
    # The Service sends admission requests to Ready Pods only: to the successor alone now.
    successor_ip = core.read_namespaced_pod(successor, RELEASE_NAMESPACE).status.pod_ip
    eventually(
        lambda: webhook_endpoints(core) == [successor_ip], what="the webhook Service's endpoint"
    )
    # ...and kube-proxy routes the Service there (a second or two after the EndpointSlice):
    # the apiserver calls the ClusterIP from this host, as this connection does.
    service = core.read_namespaced_service("cheiron-webhook", RELEASE_NAMESPACE)
    eventually(lambda: connects(service.spec.cluster_ip, 443), what="the webhook Service routing")
    # The new leader serves the webhook (its own certificate, its configuration rewritten):
    # a Pod-mode manager is Ready only then, and a Pod without Secrets of its own gets one.
    create_manager(env.custom, env.namespace, manager_body("pull", [env.entry()], mode="Pod"))
    wait_until_ready(env.custom, env.namespace, "pull")
    env.core.create_namespaced_pod(env.namespace, bare_pod("app", env.image))
    try:
        (state,) = eventually(
            lambda: [p for p in pod_states(core, env.namespace, "app") if p.running],
            timeout=POD_TIMEOUT,
            what="the Pod Running",
        )
    except AssertionError as e:
        pod = core.read_namespaced_pod("app", env.namespace)
        raise AssertionError(
            f"{e}\nleader {successor}\nPod: {pod.metadata.annotations} "
            f"{pod.spec.image_pull_secrets} {pod.status}\n{describe(core, node)}"
        ) from e
    assert state.pull_secrets == ("private-registry",)
