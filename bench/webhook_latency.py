"""Admission webhook latency, and how long a Pod in a brand-new namespace waits for its Secret.

Run by hand: uv run python bench/webhook_latency.py [--requests N] [--namespaces N]
Starts its own control plane and operator (with --webhook-port). Three figures:
- the webhook alone: N AdmissionReview requests sent straight to it over HTTPS;
- Pod creation through the apiserver, which calls the webhook for each Pod;
- a Pod-mode cluster manager and fresh namespaces: namespace created -> its Secret exists.
"""

import argparse
import base64
import http.client
import json
import ssl
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from kubernetes import client, config

from cheiron.api.crd import KINDS, crd
from cheiron.devcluster import ControlPlane
from cheiron.devcluster.cluster import free_port
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually

GROUP, VERSION = "cheiron.anny.co", "v1alpha1"
NS = "bench"


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def _report(label: str, millis: list[float]) -> None:
    print(
        f"{label}: n={len(millis)} p50 {statistics.median(millis):.2f} ms, "
        f"p99 {_pct(millis, 0.99):.2f} ms, max {max(millis):.2f} ms"
    )


def _review(uid: str) -> bytes:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"p-{uid[:8]}", "namespace": NS},
        "spec": {"containers": [{"name": "c", "image": "ghcr.io/x/y:1"}]},
    }
    request: dict[str, Any] = {
        "uid": uid,
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "namespace": NS,
        "operation": "CREATE",
        "userInfo": {"username": "bench"},
        "object": pod,
        "dryRun": False,
    }
    body = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}
    return json.dumps(body).encode()


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--pods", type=int, default=200)
    parser.add_argument("--namespaces", type=int, default=20)
    args = parser.parse_args()
    port = free_port()
    with ControlPlane() as plane, tempfile.TemporaryDirectory() as tmp:
        api = config.new_client_from_config(config_file=str(plane.kubeconfig_path))
        core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
        for kind in KINDS:
            client.ApiextensionsV1Api(api).create_custom_resource_definition(crd(kind))
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))
        operator_args = ("--webhook-port", str(port), "--webhook-host", "127.0.0.1")
        with OperatorProcess(plane.kubeconfig_path, Path(tmp) / "op.log", operator_args):
            eventually(
                lambda: custom.list_cluster_custom_object(
                    GROUP, VERSION, "clusterimagepullsecretmanagers"
                )
            )
            entries = [
                {"name": "gh", "registry": "ghcr.io", "username": "u", "password": "p"},
                {"name": "hub", "registry": "docker.io", "username": "u", "password": "p"},
            ]
            custom.create_cluster_custom_object(
                GROUP,
                VERSION,
                "clusterimagepullsecretmanagers",
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": "ClusterImagePullSecretManager",
                    "metadata": {"name": "pods"},
                    "spec": {"mode": "Pod", "secrets": entries},
                },
            )
            eventually(lambda: core.read_namespaced_secret("hub", NS), timeout=30)
            eventually(lambda: core.read_namespaced_service_account("default", NS))

            hooks = client.AdmissionregistrationV1Api(api).read_mutating_webhook_configuration(
                "cheiron"
            )
            ca = base64.b64decode(hooks.webhooks[0].client_config.ca_bundle)
            ctx = ssl.create_default_context(cadata=ca.decode())
            conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
            direct = []
            for _ in range(args.requests):
                payload = _review(str(uuid.uuid4()))
                start = time.perf_counter()
                conn.request(
                    "POST", "/pod-pull-secrets", payload, {"Content-Type": "application/json"}
                )
                answer = json.loads(conn.getresponse().read())
                direct.append((time.perf_counter() - start) * 1000)
                assert answer["response"]["allowed"]
                assert answer["response"].get("patch")
            conn.close()
            _report("webhook alone (AdmissionReview over HTTPS, keep-alive)", direct)

            via_apiserver = []
            for i in range(args.pods):
                pod = client.V1Pod(
                    metadata=client.V1ObjectMeta(name=f"pod-{i}"),
                    spec=client.V1PodSpec(
                        containers=[client.V1Container(name="c", image="ghcr.io/x/y:1")]
                    ),
                )
                start = time.perf_counter()
                created = core.create_namespaced_pod(NS, pod)
                via_apiserver.append((time.perf_counter() - start) * 1000)
                assert [r.name for r in created.spec.image_pull_secrets] == ["gh", "hub"]
            _report("Pod create through the apiserver, webhook included", via_apiserver)

            waits = []
            for i in range(args.namespaces):
                name = f"fresh-{i}"
                start = time.perf_counter()
                core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
                eventually(
                    lambda name=name: core.read_namespaced_secret("hub", name), interval=0.002
                )
                waits.append((time.perf_counter() - start) * 1000)
            _report("brand-new namespace created -> its pull Secret exists", waits)


if __name__ == "__main__":
    main()
