"""48 simulated hours of ECR renewal on the real apiserver, driven by a controllable clock.

The manager's reconcile runs in this process with a fake clock and a fake token issuer (the
only things simulated); every read and write goes to the real apiserver. The pass schedule
is the operator's own (`_next_delay`): a pass at each renewal time, else at the resync.
"""

import asyncio
import base64
import datetime
import json
import random
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client

from cheiron.api.observed import (
    ManagerKind,
)
from cheiron.controllers.managers import Pass, _next_delay, reconcile
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


def _start(api_client: client.ApiClient, sim: Simulation) -> None:
    """A fresh operator runtime (as after a restart) on the simulation's clock and issuer."""
    rng = random.Random(7)
    configure(
        Runtime(
            Kube(api_client),
            resync_seconds=1800,
            clock=sim.clock,
            jitter=lambda: rng.uniform(-1.0, 1.0),
            fetch_ecr=sim.fetch,
        )
    )


@pytest.fixture
def simulated(api_client: client.ApiClient) -> Iterator[Simulation]:
    """The operator's runtime with the simulation's clock and issuer, restored afterwards."""
    sim = Simulation()
    previous = runtime_module._runtime
    _start(api_client, sim)
    yield sim
    runtime_module._runtime = previous


def _password(core: client.CoreV1Api, namespace: str, name: str = "ecr-pull") -> str:
    return str(
        docker_config(core.read_namespaced_secret(name, namespace))["auths"][REGISTRY]["password"]
    )


def _token_expiry(core: client.CoreV1Api, namespace: str, name: str) -> datetime.datetime:
    return expiry_of(_password(core, namespace, name))


@pytest.fixture
def ecr_manager(
    crds: None, core: client.CoreV1Api, custom: client.CustomObjectsApi, namespace: str
) -> Iterator[tuple[str, list[str]]]:
    """A cluster manager with one ECR entry over three namespaces: its name and theirs."""
    namespaces = [namespace, f"{namespace}-b", f"{namespace}-c"]
    for extra in namespaces[1:]:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=extra)))
    name = f"renew-{uuid.uuid4().hex[:6]}"
    body = manager_body(name, [{"name": "ecr-pull", "ecr": {"registry": REGISTRY}}], cluster=True)
    body["spec"]["target"] = {"namespaces": {"names": namespaces}}
    create_manager(custom, None, body)
    yield name, namespaces
    delete_manager(custom, None, name)
    for extra in namespaces[1:]:
        core.delete_namespace(extra)


def _pass(api_client: client.ApiClient, custom: client.CustomObjectsApi, name: str) -> Pass:
    """One manager pass in-process, from the manager and caches as the apiserver has them."""
    raw = get_manager(custom, None, name)
    return asyncio.run(reconcile(ManagerKind.CLUSTER, raw, views_from(api_client)))


def test_forty_eight_hours_never_expired_and_one_update_per_renewal(
    api_client: client.ApiClient,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    ecr_manager: tuple[str, list[str]],
    simulated: Simulation,
) -> None:
    name, namespaces = ecr_manager
    uids: dict[str, str] = {}
    versions: dict[str, set[str]] = {ns: set() for ns in namespaces}
    passes = 0
    while simulated.now < SIM_START + datetime.timedelta(hours=48):
        result = _pass(api_client, custom, name)
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
            assert simulated.now < _token_expiry(core, ns, "ecr-pull"), f"{ns} at {simulated.now}"
    # 48 h of 12 h tokens renewed at about half-life: 8 tokens, give or take the jitter.
    assert 7 <= simulated.issued <= 10
    for ns in namespaces:
        # One create, then exactly one in-place update per renewal.
        assert len(versions[ns]) == simulated.issued
    assert passes < 48 * 2 + 2 * simulated.issued


def test_after_a_restart_a_tenants_rewritten_copy_is_never_fanned_out(
    api_client: client.ApiClient,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    ecr_manager: tuple[str, list[str]],
    simulated: Simulation,
) -> None:
    """A restart takes the token back only from a copy whose digest status recorded.

    Before, the first copy found in any target namespace was reused until renewal: a tenant
    who rewrote theirs had their bytes copied to every other namespace for hours.
    """
    name, namespaces = ecr_manager
    tenant, gone_meanwhile, intact = namespaces
    _pass(api_client, custom, name)
    _pass(api_client, custom, name)  # the status report the marking pass left to it
    issued = _password(core, intact)
    assert get_manager(custom, None, name)["status"]["entries"][0]["tokenDigest"]

    def restart_with(tampered: list[str], deleted: list[str]) -> None:
        forged = {"auths": {REGISTRY: {"username": "AWS", "password": "tenant-bytes"}}}
        for ns in tampered:
            secret = core.read_namespaced_secret("ecr-pull", ns)
            secret.data = {
                ".dockerconfigjson": base64.b64encode(json.dumps(forged).encode()).decode()
            }
            core.replace_namespaced_secret("ecr-pull", ns, secret)
        for ns in deleted:
            core.delete_namespaced_secret("ecr-pull", ns)
        simulated.now += datetime.timedelta(minutes=5)
        _start(api_client, simulated)  # the process's memory of the token is gone
        _pass(api_client, custom, name)

    # One intact copy left: it is the one reused, no new token, the forgery undone.
    before = simulated.issued
    restart_with([tenant], [gone_meanwhile])
    assert simulated.issued == before
    assert [_password(core, ns) for ns in namespaces] == [issued] * 3

    # No copy status vouches for: a new token, never the tenant's bytes.
    restart_with([tenant], [gone_meanwhile, intact])
    assert simulated.issued == before + 1
    fresh = _password(core, gone_meanwhile)
    assert fresh != "tenant-bytes"
    assert fresh != issued
    assert [_password(core, ns) for ns in namespaces] == [fresh] * 3
