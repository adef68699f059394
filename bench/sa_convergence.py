"""Time from a new ServiceAccount to its patched imagePullSecrets, and writes per account.

Run by hand: uv run python bench/sa_convergence.py [--accounts N]
Starts its own control plane and operator; a watch on ServiceAccounts counts every
modification (each one is an API write) until each account converged.
"""

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from kubernetes import client, config, watch

from cheiron.api.crd import KINDS, crd
from cheiron.devcluster import ControlPlane
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually

NS = "bench"


def main() -> None:
    """Create N ServiceAccounts one by one under a converged manager and report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=50)
    n = parser.parse_args().accounts
    with ControlPlane() as plane, tempfile.TemporaryDirectory() as tmp:
        api = config.new_client_from_config(config_file=str(plane.kubeconfig_path))
        core, ext = client.CoreV1Api(api), client.ApiextensionsV1Api(api)
        custom = client.CustomObjectsApi(api)
        for kind in KINDS:
            ext.create_custom_resource_definition(crd(kind))
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))
        with OperatorProcess(plane.kubeconfig_path, Path(tmp) / "op.log"):
            eventually(
                lambda: (
                    custom.list_namespaced_custom_object(
                        "cheiron.anny.co", "v1alpha1", NS, "imagepullsecretmanagers"
                    )
                    is not None
                )
            )
            custom.create_namespaced_custom_object(
                "cheiron.anny.co",
                "v1alpha1",
                NS,
                "imagepullsecretmanagers",
                {
                    "apiVersion": "cheiron.anny.co/v1alpha1",
                    "kind": "ImagePullSecretManager",
                    "metadata": {"name": "m"},
                    "spec": {
                        "secrets": [
                            {"name": "a", "registry": "ghcr.io", "username": "u", "password": "p"}
                        ]
                    },
                },
            )
            eventually(
                lambda: (
                    [
                        r.name
                        for r in core.read_namespaced_service_account(
                            "default", NS
                        ).image_pull_secrets
                        or []
                    ]
                    == ["a"]
                )
            )

            writes: dict[str, int] = {}
            patched_at: dict[str, float] = {}
            stop = threading.Event()

            def count() -> None:
                w = watch.Watch()
                try:
                    _count(w)
                except Exception:  # noqa: BLE001 - the control plane stops under the watch
                    return

            def _count(w: watch.Watch) -> None:
                for event in w.stream(core.list_namespaced_service_account, NS, timeout_seconds=0):
                    sa = event["object"]
                    name = sa.metadata.name
                    if event["type"] == "MODIFIED" and name.startswith("sa-"):
                        writes[name] = writes.get(name, 0) + 1
                    if sa.image_pull_secrets and name not in patched_at:
                        patched_at[name] = time.monotonic()
                    if stop.is_set():
                        w.stop()

            watcher = threading.Thread(target=count, daemon=True)
            watcher.start()
            time.sleep(1)  # let the watch establish before the first create
            created: dict[str, float] = {}
            for i in range(n):
                name = f"sa-{i:03d}"
                created[name] = time.monotonic()
                core.create_namespaced_service_account(
                    NS, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name))
                )
                eventually(lambda name=name: name in patched_at, timeout=30)
            time.sleep(2)  # late writes after convergence would show up as extra counts
            stop.set()
            latencies = sorted((patched_at[k] - created[k]) * 1000 for k in created)
            per_account = [writes.get(k, 0) for k in created]
            print(f"accounts={n}")
            print(
                "new ServiceAccount -> imagePullSecrets patched: "
                f"p50 {statistics.median(latencies):.0f} ms, "
                f"p90 {latencies[int(0.9 * (n - 1))]:.0f} ms, max {latencies[-1]:.0f} ms"
            )
            print(
                "API writes per ServiceAccount to converge: "
                f"mean {statistics.mean(per_account):.2f}, max {max(per_account)}"
            )
    sys.exit(0)


if __name__ == "__main__":
    main()
