"""API calls a converged ClusterImageBackup costs per workload event (run by hand).

Usage: uv run python bench/backup_steady_state.py [--deployments D] [--pokes P]
Pushes one small image to a plain-HTTP source registry, runs `cheiron run` on the local
control plane with one ClusterImageBackup and D Deployments using the image, waits until
every Deployment points at the backup, then annotates Deployments P times (each a workload
event that wakes a backup pass). Prints, from the apiserver's own request counters
(apiserver_request_total), the requests on ClusterImagePullSecretManagers during the pokes:
in steady state a pass should need none of them.
"""

import argparse
import re
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from kubernetes import client, config

from bench.backup_throughput import create_backup
from bench.copy_throughput import push_batch
from cheiron.devcluster import ControlPlane
from tests.support import crds as crd_support
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually
from tests.support.registry import Registry

_REQUESTS = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$", re.M)
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def requests_on(api: client.ApiClient, resource: str) -> Counter[str]:
    """apiserver_request_total for one resource, by `VERB subresource code`."""
    response = api.call_api("GET", f"{api.configuration.host}/metrics")
    response.read()
    counts: Counter[str] = Counter()
    for match in _REQUESTS.finditer(response.data.decode()):
        labels = dict(_LABEL.findall(match["labels"]))
        if labels.get("resource") == resource:
            key = f"{labels['verb']} {labels.get('subresource') or '-'} {labels['code']}"
            counts[key] += int(float(match["value"]))
    return counts


def _deployment(name: str, image: str) -> dict[str, object]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": image}]},
            },
        },
    }


def main() -> None:
    """Converge, poke, count."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deployments", type=int, default=5)
    parser.add_argument("--pokes", type=int, default=20)
    args = parser.parse_args()
    namespace = "bench"
    with (
        tempfile.TemporaryDirectory(prefix="cheiron-bench-") as tmp,
        Registry() as source,
        Registry() as backup,
        ControlPlane() as plane,
    ):
        (name,), _ = push_batch(Path(tmp) / "layout", source, 1, 32 * 1024, seed=uuid.uuid4().hex)
        image = f"{source.host}/{name}:v1"
        api = config.new_client_from_config(config_file=str(plane.kubeconfig_path))
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        custom = client.CustomObjectsApi(api)
        crd_support.install(api)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
        with OperatorProcess(plane.kubeconfig_path, Path(tmp) / "operator.log") as operator:
            create_backup(core, custom, namespace, source, backup)
            names = [f"d{i}" for i in range(args.deployments)]
            for d in names:
                apps.create_namespaced_deployment(namespace, _deployment(d, image))
            eventually(
                lambda: all(
                    apps.read_namespaced_deployment(d, namespace)
                    .spec.template.spec.containers[0]
                    .image.startswith(backup.host)
                    for d in names
                ),
                timeout=300,
                what="every Deployment rewritten",
            )
            time.sleep(5)  # let the passes the rewrite itself caused finish
            before = requests_on(api, "clusterimagepullsecretmanagers")
            for i in range(args.pokes):
                d = names[i % len(names)]
                apps.patch_namespaced_deployment(
                    d, namespace, {"metadata": {"annotations": {"bench/poke": str(i)}}}
                )
                time.sleep(0.5)  # one pass per poke, not one batched pass for all
            time.sleep(5)
            after = requests_on(api, "clusterimagepullsecretmanagers")
            delta = {k: after[k] - before[k] for k in after if after[k] != before[k]}
            assert "Traceback" not in operator.logs(), operator.logs()[-3000:]
    print(f"{args.deployments} Deployments rewritten; {args.pokes} workload events")
    print("requests on clusterimagepullsecretmanagers during the events (verb subresource code):")
    for key, count in sorted(delta.items()):
        print(f"  {key:<30} {count:>5}  ({count / args.pokes:.2f} per event)")
    if not delta:
        print("  none")


if __name__ == "__main__":
    main()
