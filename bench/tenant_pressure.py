"""The operator's memory under a hostile tenant's objects, next to an empty cluster, and per object.

Run by hand (as root: the operator runs in a memory cgroup of its own, for its peak):
    uv run python bench/tenant_pressure.py [--scale 1.0] [--source DIR]
`--source DIR` runs the operator from another checkout's `cheiron` package (PYTHONPATH), to
measure an earlier commit in the same run. Each phase starts a fresh control plane: the floor
(one served manager, nothing else) and the pressure (tests/support/pressure.py at `--scale`),
each a first start, a crash and a restart; it reports both peaks and their ratio. `--model`
adds the memory model: the operator's RSS after N more namespaces, ServiceAccounts, Pods and
pull Secrets, per object.
"""

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from kubernetes import client, config

from cheiron.devcluster import ControlPlane
from tests.support import crds as crd_support
from tests.support.cgroup import memory_cgroup
from tests.support.managers import create_manager, inline, manager_body, wait_for_pull_secrets
from tests.support.operator import OperatorProcess
from tests.support.pressure import MIB, Pressure, churn, create

NO_LIMIT = 8 * 1024 * MIB


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _source_env(source: str | None) -> dict[str, str]:
    """The environment that makes `python -m cheiron` import `source`'s package, not this one."""
    # PYTHONSAFEPATH: the working directory (this checkout) must not come first on sys.path.
    return {"PYTHONPATH": source, "PYTHONSAFEPATH": "1"} if source else {}


def _served(core: client.CoreV1Api, custom: client.CustomObjectsApi) -> None:
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="served")))
    create_manager(custom, "served", manager_body("m", [inline("reg")]))


def _phase(
    source: str | None, setup: Callable[[client.CoreV1Api, client.CustomObjectsApi], None]
) -> int:
    """Peak bytes of an operator over a first start, a crash and a restart."""
    env = _source_env(source)
    with ControlPlane() as plane, tempfile.TemporaryDirectory() as tmp:
        api = config.new_client_from_config(config_file=str(plane.kubeconfig_path))
        crd_support.install(api)
        core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
        _served(core, custom)
        setup(core, custom)
        log = Path(tmp) / "operator.log"
        with memory_cgroup(NO_LIMIT) as cgroup, churn(core, "served", MIB):
            for _start in range(2):
                with OperatorProcess(
                    plane.kubeconfig_path, log, env=env, preexec=cgroup.enter
                ) as op:
                    wait_for_pull_secrets(core, "served", ["reg"], timeout=300)
                    time.sleep(10)  # the passes after the first one
                    op.kill()
            return cgroup.peak_bytes


def _model(source: str | None, count: int) -> dict[str, float]:
    """RSS bytes per object of each kind, from the RSS after `count` more of it."""
    env = _source_env(source)
    per: dict[str, float] = {}
    with ControlPlane() as plane, tempfile.TemporaryDirectory() as tmp:
        api = config.new_client_from_config(config_file=str(plane.kubeconfig_path))
        crd_support.install(api)
        core = client.CoreV1Api(api)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="bulk")))
        with OperatorProcess(plane.kubeconfig_path, Path(tmp) / "operator.log", env=env) as op:
            pid = op.pid or 0

            def settled() -> int:
                time.sleep(5)
                return _rss(pid)

            def made(kind: str, make: Callable[[int], None]) -> None:
                before = settled()
                with ThreadPoolExecutor(8) as pool:
                    list(pool.map(make, range(count)))
                per[kind] = (settled() - before) / count

            made(
                "namespace",
                lambda i: core.create_namespace(
                    client.V1Namespace(metadata=client.V1ObjectMeta(name=f"ns-{i:05d}"))
                ),
            )
            made(
                "serviceaccount",
                lambda i: core.create_namespaced_service_account(
                    "bulk",
                    client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=f"sa-{i:05d}")),
                ),
            )
            pod_spec = client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")])
            made(
                "pod",
                lambda i: core.create_namespaced_pod(
                    "bulk",
                    client.V1Pod(metadata=client.V1ObjectMeta(name=f"p-{i:05d}"), spec=pod_spec),
                ),
            )
            # A pull Secret as users have them: one registry (each more costs ~60 bytes).
            payload = json.dumps({"auths": {"ghcr.io": {"auth": "dTpw"}}})
            made(
                "pull secret",
                lambda i: core.create_namespaced_secret(
                    "bulk",
                    client.V1Secret(
                        metadata=client.V1ObjectMeta(name=f"s-{i:05d}"),
                        type="kubernetes.io/dockerconfigjson",
                        string_data={".dockerconfigjson": payload},
                    ),
                ),
            )
    return per


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="of the issue's numbers")
    parser.add_argument("--source", help="a checkout whose cheiron package to run")
    parser.add_argument("--model", type=int, default=0, help="objects per kind for the model")
    parser.add_argument("--model-only", action="store_true", help="skip the two peaks")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the operator's peak is read from a memory cgroup of its own")
    p = Pressure()
    scaled = replace(
        p,
        opaque_secrets=int(p.opaque_secrets * args.scale),
        accounts=int(p.accounts * args.scale),
        managers=max(1, int(p.managers * args.scale)),
    )
    result: dict[str, object] = {"source": args.source or "this checkout"}
    if not args.model_only:
        floor = _phase(args.source, lambda _core, _custom: None)
        gc.collect()
        pressure = _phase(args.source, lambda core, custom: create(core, custom, "hostile", scaled))
        result |= {
            "pressure": scaled.__dict__,
            "floor_peak_mib": round(floor / MIB, 1),
            "pressure_peak_mib": round(pressure / MIB, 1),
            "ratio": round(pressure / floor, 2),
        }
    if args.model:
        result["bytes_per_object"] = {
            k: round(v) for k, v in _model(args.source, args.model).items()
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
