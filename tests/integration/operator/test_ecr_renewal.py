"""48 simulated hours of ECR renewal on the real apiserver, driven by a controllable clock.

The manager's reconcile runs in this process with a fake clock and a fake token issuer (the
only things simulated); every read and write goes to the real apiserver. The pass schedule
is the operator's own (`_next_delay`): a pass at each renewal time, else at the resync.
"""

import asyncio
import datetime
import random
import uuid
from collections.abc import Iterator

import kopf
import pytest
from kubernetes import client

from cheiron.api.observed import (
    ManagerKind,
)
from cheiron.controllers.managers import _next_delay, reconcile
from cheiron.k8s.objects import Kube
from cheiron.runtime import state as runtime_module
from cheiron.runtime.state import Runtime, configure
from tests.support.managers import (
    create_manager,
    delete_manager,
    docker_config,
    get_manager,
    manager_body,
)
from tests.support.moto import REGISTRY
from tests.support.simulation import (
    SIM_START,
    Simulation,
    expiry_of,
    views_from,
)


@pytest.fixture
def simulated(api_client: client.ApiClient) -> Iterator[Simulation]:
    """The operator's runtime with the simulation's clock and issuer, restored afterwards."""
    sim = Simulation()
    rng = random.Random(7)
    previous = runtime_module._runtime
    configure(
        Runtime(
            Kube(api_client),
            resync_seconds=1800,
            clock=sim.clock,
            jitter=lambda: rng.uniform(-1.0, 1.0),
            fetch_ecr=sim.fetch,
        )
    )
    yield sim
    runtime_module._runtime = previous


def _token_expiry(core: client.CoreV1Api, namespace: str, name: str) -> datetime.datetime:
    auths = docker_config(core.read_namespaced_secret(name, namespace))["auths"]
    return expiry_of(auths[REGISTRY]["password"])


def test_forty_eight_hours_never_expired_and_one_update_per_renewal(  # noqa: PLR0917 - fixtures
    crds: None,
    api_client: client.ApiClient,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
    simulated: Simulation,
) -> None:
    namespaces = [namespace, f"{namespace}-b", f"{namespace}-c"]
    for extra in namespaces[1:]:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=extra)))
    name = f"renew-{uuid.uuid4().hex[:6]}"
    body = manager_body(name, [{"name": "ecr-pull", "ecr": {"registry": REGISTRY}}], cluster=True)
    body["spec"]["target"] = {"namespaces": {"names": namespaces}}
    create_manager(custom, None, body)
    try:
        uids: dict[str, str] = {}
        versions: dict[str, set[str]] = {ns: set() for ns in namespaces}
        passes = 0
        while simulated.now < SIM_START + datetime.timedelta(hours=48):
            raw = get_manager(custom, None, name)
            result = asyncio.run(
                reconcile(ManagerKind.CLUSTER, kopf.Body(raw), views_from(api_client))
            )
            passes += 1
            for ns in namespaces:
                secret = core.read_namespaced_secret("ecr-pull", ns)
                assert uids.setdefault(ns, secret.metadata.uid) == secret.metadata.uid, (
                    "the Secret was recreated instead of updated in place"
                )
                versions[ns].add(secret.metadata.resource_version)
                assert simulated.now < _token_expiry(core, ns, "ecr-pull"), (
                    f"{ns} held an expired token at {simulated.now}"
                )
            # Up to the next pass the Secret stays as it is: still valid at that moment?
            delay = datetime.timedelta(seconds=_next_delay(result))
            simulated.now += delay
            for ns in namespaces:
                assert simulated.now < _token_expiry(core, ns, "ecr-pull"), (
                    f"{ns} at {simulated.now}"
                )
        # 48 h of 12 h tokens renewed at about half-life: 8 tokens, give or take the jitter.
        assert 7 <= simulated.issued <= 10
        for ns in namespaces:
            # One create, then exactly one in-place update per renewal.
            assert len(versions[ns]) == simulated.issued
        assert passes < 48 * 2 + 2 * simulated.issued
    finally:
        delete_manager(custom, None, name)
        for extra in namespaces[1:]:
            core.delete_namespace(extra)
