"""How fast the operator backs up a batch of images, against a direct skopeo copy (by hand).

Usage: uv run python bench/backup_throughput.py [--images N] [--size-mib M] [--deployments D]
       [--concurrency C]
Generates N distinct single-platform images of M MiB (two incompressible layers), pushes
them to a plain-HTTP source registry (untimed), then:
- floor: `skopeo copy --all` of every image into a fresh registry, C at a time
  (bench/copy_throughput.py's loop);
- operator: on the local control plane, `cheiron run` with one ClusterImageBackup
  (copyConcurrency C) into another fresh registry; D Deployments share the N images; timed
  from creating the Deployments to every Deployment's template pointing at its backups.
"""

import argparse
import base64
import tempfile
import time
import uuid
from pathlib import Path

from kubernetes import client, config

from bench.copy_throughput import MIB, _copy_all, push_batch
from cheiron import API_GROUP, API_VERSION
from cheiron.devcluster import ControlPlane
from tests.support import crds as crd_support
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually
from tests.support.registry import Registry


def create_backup(
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
    source: Registry,
    backup: Registry,
    *,
    concurrency: int = 4,
) -> None:
    """ClusterImageBackup `bench` from a plain-HTTP source into a plain-HTTP backup."""
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="push"),
            data={k: base64.b64encode(b"x").decode() for k in ("username", "password")},
        ),
    )
    custom.create_cluster_custom_object(
        API_GROUP,
        API_VERSION,
        "clusterimagebackups",
        {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": "ClusterImageBackup",
            "metadata": {"name": "bench"},
            "spec": {
                "registry": {
                    "host": backup.host,
                    "insecure": True,
                    "credentialsSecretRef": {"name": "push", "namespace": namespace},
                },
                "sourceRegistries": [{"registry": source.host, "insecure": True}],
                "copyConcurrency": concurrency,
            },
        },
    )


def _operator_run(
    plane: ControlPlane, source: Registry, names: list[str], deployments: int, concurrency: int
) -> float:
    api = config.new_client_from_config(config_file=str(plane.kubeconfig_path))
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    custom = client.CustomObjectsApi(api)
    crd_support.install(api)
    namespace = "bench"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    with tempfile.TemporaryDirectory() as tmp, Registry() as backup:
        log = Path(tmp) / "operator.log"
        with OperatorProcess(plane.kubeconfig_path, log):
            create_backup(core, custom, namespace, source, backup, concurrency=concurrency)
            per = -(-len(names) // deployments)
            groups = [names[i : i + per] for i in range(0, len(names), per)]
            started = time.perf_counter()
            for i, group in enumerate(groups):
                containers = [
                    {"name": f"c{j}", "image": f"{source.host}/{name}:v1"}
                    for j, name in enumerate(group)
                ]
                apps.create_namespaced_deployment(
                    namespace,
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "metadata": {"name": f"d{i}"},
                        "spec": {
                            "replicas": 0,
                            "selector": {"matchLabels": {"app": f"d{i}"}},
                            "template": {
                                "metadata": {"labels": {"app": f"d{i}"}},
                                "spec": {"containers": containers},
                            },
                        },
                    },
                )

            def rewritten() -> bool:
                return all(
                    all(
                        c.image.startswith(backup.host)
                        for c in apps.read_namespaced_deployment(
                            f"d{i}", namespace
                        ).spec.template.spec.containers
                    )
                    for i in range(len(groups))
                )

            eventually(rewritten, timeout=600, interval=0.05, what="every Deployment rewritten")
            return time.perf_counter() - started


def main() -> None:
    """Generate, push, then time the floor and the operator and print both."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--size-mib", type=float, default=4.0, help="per image, in two layers")
    parser.add_argument("--deployments", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    layer_size = int(args.size_mib * MIB / 2)
    run = uuid.uuid4().hex[:6]

    with tempfile.TemporaryDirectory(prefix="cheiron-bench-") as tmp, Registry() as source:
        names, images = push_batch(
            Path(tmp) / "layout", source, args.images, layer_size, seed=f"{run}/"
        )
        total = sum(image.size for image in images)
        print(
            f"{args.images} images, {total / MIB:.1f} MiB in all, "
            f"{args.deployments} Deployments, concurrency {args.concurrency}"
        )
        with Registry() as floor_registry:
            floor = _copy_all(source, floor_registry, names, args.concurrency)
        with ControlPlane() as plane:
            operator = _operator_run(plane, source, names, args.deployments, args.concurrency)
        for label, seconds in (
            ("floor: skopeo copy", floor),
            ("operator: created -> all rewritten", operator),
        ):
            print(
                f"{label:<36} {seconds:7.2f} s  {args.images / seconds:6.2f} images/s"
                f"  {total / MIB / seconds:6.1f} MiB/s"
            )
        print(f"operator / floor: {operator / floor:.2f}x")


if __name__ == "__main__":
    main()
