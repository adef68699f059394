"""A manager's status stays writable however many namespaces conflict or entries fail.

The CRD caps a condition's message at 32 KiB; a Ready message with one sentence per
conflicting namespace or per entry's unreachable login outgrew it (≈345 namespaces: a
migration from the patcher without --adopt), every status write was refused with 422, and
nothing of the pass (entries, tokenDigest, acceptedDigest) ever reached status.
"""

import base64
import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from cheiron.devcluster import ControlPlane
from cheiron.devcluster.cluster import free_port
from tests.support import crds as crd_support
from tests.support.managers import create_manager, get_manager, inline, manager_body
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually

CONFLICTING = 1000
ENTRIES = 64
LOGINS = 8
# The CRD's bound on a condition's message; status must stay well below it.
MESSAGE_LIMIT = 32768


@pytest.fixture(scope="module")
def plane() -> Iterator[ControlPlane]:
    """A control plane of this module's own: a thousand namespaces would slow the others."""
    with crd_support.own_control_plane() as cp:
        yield cp


@pytest.fixture(scope="module")
def api(plane: ControlPlane) -> client.ApiClient:
    """An admin client of this module's apiserver."""
    return config.new_client_from_config(config_file=str(plane.kubeconfig_path))


@pytest.fixture(scope="module")
def operator(plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One operator for the module."""
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    with OperatorProcess(plane.kubeconfig_path, Path(log)):
        yield


def _status(custom: client.CustomObjectsApi, namespace: str | None, name: str) -> dict[str, Any]:
    return dict(get_manager(custom, namespace, name).get("status") or {})


def _ready(status: dict[str, Any]) -> dict[str, Any]:
    return next((c for c in status.get("conditions", []) if c["type"] == "Ready"), {})


def test_a_thousand_conflicting_namespaces_give_a_written_bounded_status(
    operator: None, api: client.ApiClient
) -> None:
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    label = f"conflict-{uuid.uuid4().hex[:6]}"
    names = [f"{label}-{i:04d}" for i in range(CONFLICTING)]

    def conflicting(name: str) -> None:
        meta = client.V1ObjectMeta(name=name, labels={"team": label})
        core.create_namespace(client.V1Namespace(metadata=meta))
        # The users' own Secret under the entry's name: cheiron must not overwrite it.
        secret = client.V1Secret(metadata=client.V1ObjectMeta(name="reg"), string_data={"k": "v"})
        core.create_namespaced_secret(name, secret)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(conflicting, names))
    body = manager_body("conflicts", [inline("reg")], cluster=True)
    body["spec"]["target"] = {"namespaces": {"labels": [{"matchLabels": {"team": label}}]}}
    create_manager(custom, None, body)

    status = eventually(
        lambda: (s := _status(custom, None, "conflicts")).get("entries") and s,
        timeout=180,
        what="the manager's status with its entries",
    )
    ready = _ready(status)
    assert (ready["status"], ready["reason"]) == ("False", "SecretConflict")
    assert len(ready["message"]) < MESSAGE_LIMIT
    # Counted, with the first few named: the reader learns how many and where to look.
    assert f"{CONFLICTING} Secrets" in ready["message"]
    assert f"{names[0]}/reg" in ready["message"]
    assert status["targetNamespaces"] == CONFLICTING
    for name in names[:: CONFLICTING // 10]:
        assert core.read_namespaced_secret("reg", name).data == {
            "k": base64.b64encode(b"v").decode()
        }


def _closed_ports(count: int) -> list[int]:
    """Loopback ports nothing listens on: every login is refused at once."""
    return [free_port() for _ in range(count)]


def test_sixty_four_entries_of_eight_unreachable_logins_give_a_bounded_status(
    operator: None, api: client.ApiClient
) -> None:
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    namespace = f"logins-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    entries = []
    for i in range(ENTRIES):
        # Long names, as a tenant may choose them: every sentence about an entry names it.
        name = f"pull-{i:02d}-{'x' * 200}"
        auths = {
            f"127.0.0.1:{port}": {
                "auth": base64.b64encode(f"robot:{uuid.uuid4().hex}".encode()).decode()
            }
            for port in _closed_ports(LOGINS)
        }
        payload = json.dumps({"auths": auths})
        secret = client.V1Secret(
            metadata=client.V1ObjectMeta(name=f"src-{i:02d}"),
            type="kubernetes.io/dockerconfigjson",
            string_data={".dockerconfigjson": payload},
        )
        core.create_namespaced_secret(namespace, secret)
        entries.append({"name": name, "existingSecretRef": {"name": f"src-{i:02d}"}})
    create_manager(custom, namespace, manager_body("m", entries))

    def all_unreachable() -> dict[str, Any] | None:
        status = _status(custom, namespace, "m")
        results = [(e.get("verification") or {}).get("result") for e in status.get("entries", [])]
        return status if results == ["Unreachable"] * ENTRIES else None

    status = eventually(all_unreachable, timeout=240, what="every entry's verdict in status")
    ready = _ready(status)
    assert ready["status"] == "True"  # unreachable is a warning, not a failure
    assert len(ready["message"]) < MESSAGE_LIMIT
    assert f"{ENTRIES} entries not verified" in ready["message"]
