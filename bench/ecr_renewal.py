"""Writes and time for one ECR renewal across N namespaces, on the local control plane.

Run by hand: uv run python bench/ecr_renewal.py [--namespaces 1,10,100] [--rounds 3]

A ClusterImagePullSecretManager with one ECR entry targets N namespaces. The manager's
reconcile runs in this process against the real apiserver; only the clock and the token
issuer are simulated (moto's tokens never change, so a renewal would write nothing). After
the first pass has created the Secrets, the clock jumps to the renewal time and one pass
renews. A watch on cheiron's Secrets counts every write the renewal makes and the time
from the start of the renewal pass until the last namespace holds the new token.
"""

import argparse
import asyncio
import datetime
import statistics
import threading
import time

import kopf
from kubernetes import client, config, watch

from cheiron import API_GROUP, API_VERSION
from cheiron.api.observed import ManagerKind
from cheiron.controllers.managers import reconcile
from cheiron.devcluster import ControlPlane
from cheiron.k8s.objects import Kube
from cheiron.runtime.state import Runtime, configure
from tests.support import crds as crd_support
from tests.support.managers import (
    CLUSTER_PLURAL,
    create_manager,
    docker_config,
    get_manager,
    manager_body,
)
from tests.support.moto import REGISTRY
from tests.support.poll import eventually
from tests.support.simulation import Simulation, views_from

OWNED = "app.kubernetes.io/managed-by=cheiron"


class SecretWrites:
    """Counts MODIFIED events of cheiron's Secrets and when each namespace got a token."""

    def __init__(self, api: client.ApiClient, namespaces: list[str]) -> None:
        self.core = client.CoreV1Api(api)
        self.namespaces = set(namespaces)
        self.modified = 0
        self.created = 0
        self.deleted = 0
        self.seen: dict[str, tuple[float, str]] = {}
        self._watch = watch.Watch()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        for event in self._watch.stream(
            self.core.list_secret_for_all_namespaces, label_selector=OWNED
        ):
            secret = event["object"]
            kind = event["type"]
            if secret.metadata.namespace not in self.namespaces:
                continue  # earlier rounds' namespaces are still being deleted
            if kind == "MODIFIED":
                self.modified += 1
            elif kind == "ADDED":
                self.created += 1
            elif kind == "DELETED":
                self.deleted += 1
            password = docker_config(secret)["auths"][REGISTRY]["password"]
            self.seen[secret.metadata.namespace] = (time.perf_counter(), password)

    def stop(self) -> None:
        self._watch.stop()


def one_size(api: client.ApiClient, n: int, tag: str) -> tuple[int, int, float, float]:
    """(Secret writes, all writes, propagation ms, pass ms) of one renewal over n namespaces."""
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    names = [f"{tag}-{i}" for i in range(n)]
    for name in names:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    for name in names:
        eventually(lambda name=name: core.read_namespaced_service_account("default", name))
    manager = f"renewal-{tag}"
    body = manager_body(
        manager, [{"name": "ecr-pull", "ecr": {"registry": REGISTRY}}], cluster=True
    )
    body["spec"]["target"] = {"namespaces": {"names": names}}
    create_manager(custom, None, body)
    sim = Simulation()
    configure(Runtime(Kube(api), clock=sim.clock, jitter=lambda: 0.0, fetch_ecr=sim.fetch))

    def one_pass() -> float:
        raw = get_manager(custom, None, manager)
        idx = views_from(api)
        start = time.perf_counter()
        asyncio.run(reconcile(ManagerKind.CLUSTER, kopf.Body(raw), idx))
        return start

    def account_versions() -> dict[str, str]:
        return {
            ns: core.read_namespaced_service_account("default", ns).metadata.resource_version
            for ns in names
        }

    # Converge first: create the Secrets, then mark and patch the ServiceAccounts (without
    # the ServiceAccount watch, each pass takes the protocol one step further).
    before: dict[str, str] = {}
    while (after := account_versions()) != before:
        before = after
        one_pass()
    writes = SecretWrites(api, names)
    writes.start()
    eventually(lambda: all(ns in writes.seen for ns in names), what="watch caught up")
    writes.created = 0  # the watch's initial list reports existing Secrets as ADDED
    sa_before = account_versions()

    def manager_events() -> int:
        # Events about a cluster-scoped object live in `default`.
        items = core.list_namespaced_event("default").items
        return sum(1 for e in items if e.involved_object.name == manager)

    events_before = manager_events()
    status_before = get_manager(custom, None, manager)["metadata"]["resourceVersion"]
    sim.now += datetime.timedelta(hours=6, seconds=1)
    start = one_pass()
    pass_ms = (time.perf_counter() - start) * 1000
    renewed = f"token-{sim.issued}@"
    eventually(
        lambda: all(writes.seen[ns][1].startswith(renewed) for ns in names),
        what="renewed token everywhere",
    )
    last = max(writes.seen[ns][0] for ns in names)
    writes.stop()
    sa_after = account_versions()
    sa_writes = sum(sa_after[ns] != sa_before[ns] for ns in names)
    status_writes = int(
        get_manager(custom, None, manager)["metadata"]["resourceVersion"] != status_before
    )
    event_writes = manager_events() - events_before
    secret_writes = writes.modified + writes.created + writes.deleted
    custom.delete_cluster_custom_object(API_GROUP, API_VERSION, CLUSTER_PLURAL, manager)
    for name in names:
        core.delete_namespace(name)
    return (
        secret_writes,
        secret_writes + sa_writes + status_writes + event_writes,
        (last - start) * 1000,
        pass_ms,
    )


def main() -> None:
    """Renew once per size and round; print writes and times."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--namespaces", default="1,10,100")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.namespaces.split(",")]
    with ControlPlane() as plane:
        api = config.new_client_from_config(config_file=str(plane.kubeconfig_path))
        crd_support.install(api)
        print("namespaces  secret-writes  all-writes  propagate-ms(median)  pass-ms(median)")
        for n in sizes:
            results = [one_size(api, n, f"b{n}r{r}") for r in range(args.rounds)]
            secret_writes = {r[0] for r in results}
            all_writes = {r[1] for r in results}
            print(
                f"{n:>10}  {'/'.join(map(str, sorted(secret_writes))):>13}"
                f"  {'/'.join(map(str, sorted(all_writes))):>10}"
                f"  {statistics.median(r[2] for r in results):>20.1f}"
                f"  {statistics.median(r[3] for r in results):>15.1f}"
            )


if __name__ == "__main__":
    main()
