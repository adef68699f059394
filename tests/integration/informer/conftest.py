"""A control plane whose ServiceAccount watches are served by etcd, not the watch cache.

The watch cache answers a watch from an old resourceVersion with the objects it holds; etcd
answers `410 Gone` once that revision is compacted, which is what an informer meets after a
long disconnection. This plane lets a test make that happen on purpose.
"""

import base64
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config

from cheiron.devcluster import ControlPlane


@pytest.fixture(scope="module")
def storage_plane() -> Iterator[ControlPlane]:
    """A control plane without a watch cache for ServiceAccounts."""
    with ControlPlane(apiserver_args=("--watch-cache-sizes=serviceaccounts#0",)) as plane:
        yield plane


@pytest.fixture
def storage_core(storage_plane: ControlPlane) -> client.CoreV1Api:
    """core/v1 of the storage plane."""
    return client.CoreV1Api(config.new_client_from_config(str(storage_plane.kubeconfig_path)))


def _etcd(plane: ControlPlane, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - etcd on loopback, started by the fixture
        plane.etcd_url + path, data=json.dumps(body).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - as above
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def compact(plane: ControlPlane) -> int:
    """Compact etcd up to its current revision; returns that revision."""
    revision = int(
        _etcd(plane, "/v3/kv/range", {"key": base64.b64encode(b"/").decode()})["header"]["revision"]
    )
    _etcd(plane, "/v3/kv/compaction", {"revision": revision, "physical": True})
    return revision
