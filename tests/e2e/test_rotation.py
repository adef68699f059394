"""Rotation on a real node: the registry's password changes, the manager follows, Pods pull."""

import base64
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from cheiron.devcluster.images import runnable_image, write_layout
from cheiron.devcluster.node import Node
from tests.e2e.conftest import REGISTRY_USER, Env
from tests.support.managers import (
    create_manager,
    manager_body,
    set_secrets,
    wait_for_pull_secrets,
)
from tests.support.oci import push
from tests.support.operator import OperatorProcess
from tests.support.pods import bare_pod, pod_states
from tests.support.poll import eventually
from tests.support.registry import Registry

POD_TIMEOUT = 120.0


@pytest.fixture
def rotating(node: Node, tmp_path: Path) -> Iterator[tuple[Registry, str]]:
    """A registry of this test's own (its password will change) with an image; its reference."""
    with Registry(auth=(REGISTRY_USER, secrets.token_urlsafe(12)), tls=True) as registry:
        assert registry.ca_path is not None
        node.trust_registry(registry.host, registry.ca_path)
        write_layout(runnable_image(marker="rotation"), tmp_path / "layout", "1")
        push(tmp_path / "layout", "rotating/busybox:1", registry)
        yield registry, f"{registry.host}/rotating/busybox:1"


def test_after_a_rotation_new_pods_pull_with_the_new_password(
    env: Env, operator: OperatorProcess, rotating: tuple[Registry, str]
) -> None:
    registry, image = rotating
    assert registry.auth is not None
    old = registry.auth[1]
    entry = {"name": "rotating", "registry": registry.host, "username": REGISTRY_USER}
    create_manager(env.custom, env.namespace, manager_body("pull", [{**entry, "password": old}]))
    wait_for_pull_secrets(env.core, env.namespace, ["rotating"])
    env.core.create_namespaced_pod(env.namespace, bare_pod("before", image, policy="Always"))
    eventually(
        lambda: [p for p in pod_states(env.core, env.namespace, "before") if p.running],
        timeout=POD_TIMEOUT,
        what="a Pod pulling with the first password",
    )

    new = secrets.token_urlsafe(12)
    registry.change_password(new)
    set_secrets(env.custom, env.namespace, "pull", [{**entry, "password": new}])
    eventually(
        lambda: new.encode() in docker_config_bytes(env, "rotating"),
        what="the Secret holding the new password",
    )
    env.core.create_namespaced_pod(env.namespace, bare_pod("after", image, policy="Always"))
    eventually(
        lambda: [p for p in pod_states(env.core, env.namespace, "after") if p.running],
        timeout=POD_TIMEOUT,
        what="a Pod pulling with the new password",
    )
    # The registry refuses the old password: the Pod above could only have used the new one.
    assert registry.request("GET", "/v2/", credentials=(REGISTRY_USER, old)).status == 401


def docker_config_bytes(env: Env, name: str) -> bytes:
    """The decoded .dockerconfigjson of a Secret."""
    secret = env.core.read_namespaced_secret(name, env.namespace)
    return base64.b64decode(secret.data[".dockerconfigjson"])
