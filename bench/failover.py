"""Seconds from a leader's crash (SIGKILL) or clean stop to the standby serving /readyz.

Run by hand: uv run python bench/failover.py [--lease-seconds 15] [--rounds 3]
Starts its own control plane and two replicas with --leader-elect in one namespace.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from kubernetes import client, config

from cheiron.devcluster import ControlPlane
from tests.support import crds as crd_support
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually

NS = "cheiron-system"


def main() -> None:
    """Alternate crash and clean stop of the leader; print the takeover times."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lease-seconds", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with ControlPlane() as plane, tempfile.TemporaryDirectory() as tmp:
        api = config.new_client_from_config(config_file=str(plane.kubeconfig_path))
        crd_support.install(api)
        client.CoreV1Api(api).create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=NS))
        )
        flags = ("--leader-elect", "--lease-seconds", str(args.lease_seconds))
        flags += ("--operator-namespace", NS)
        times: dict[str, list[float]] = {"crash": [], "clean stop": []}
        replicas = [
            OperatorProcess(plane.kubeconfig_path, Path(tmp) / f"r{i}.log", flags, wait=False)
            for i in range(2 * args.rounds + 1)
        ]
        replicas[0].start()
        eventually(replicas[0].ready, timeout=60, what="first leader")
        for i in range(2 * args.rounds):
            leader, standby = replicas[i], replicas[i + 1]
            standby.start()
            eventually(lambda s=standby: "waiting to lead" in s.logs(), timeout=60)
            how = "crash" if i % 2 == 0 else "clean stop"
            start = time.monotonic()
            leader.kill() if how == "crash" else leader.stop()
            eventually(lambda s=standby: s.ready(), timeout=args.lease_seconds + 60)
            times[how].append(time.monotonic() - start)
        replicas[-1].stop()
        for how, values in times.items():
            print(
                f"{how}: median {statistics.median(values):.1f} s over {len(values)} "
                f"(lease {args.lease_seconds} s): {', '.join(f'{v:.1f}' for v in values)}"
            )


if __name__ == "__main__":
    main()
