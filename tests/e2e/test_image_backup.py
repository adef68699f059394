"""Image backup on a real node: the source image goes, and a new Pod starts from the backup."""

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes.client.rest import ApiException

from cheiron import API_GROUP, API_VERSION
from cheiron.devcluster.images import runnable_image, write_layout
from cheiron.devcluster.node import Node
from cheiron.images.reference import parse
from tests.e2e.conftest import Env
from tests.support.backups import (
    PASSWORD,
    PLURAL,
    USER,
    create_backup,
    get_backup,
    image_record,
    push_credentials,
)
from tests.support.oci import push
from tests.support.operator import OperatorProcess
from tests.support.pods import bare_pod, deployment, pod_states
from tests.support.poll import eventually
from tests.support.registry import Registry, RegistryError

POD_TIMEOUT = 120.0


@dataclass(frozen=True)
class Backing:
    """A public-style source (plain HTTP, no auth), a backup (TLS, htpasswd), the backups made."""

    source: Registry
    backup: Registry
    backups: list[str]


@pytest.fixture
def backing(env: Env, node: Node) -> Iterator[Backing]:
    """Both registries, trusted by the node; the ClusterImageBackups are deleted afterwards."""
    with Registry(delete=True) as source, Registry(auth=(USER, PASSWORD), tls=True) as backup:
        assert backup.ca_path is not None
        node.trust_registry(source.host, None)
        node.trust_registry(backup.host, backup.ca_path)
        names: list[str] = []
        yield Backing(source, backup, names)
        for name in names:
            with contextlib.suppress(ApiException):
                env.custom.delete_cluster_custom_object(API_GROUP, API_VERSION, PLURAL, name)


def test_a_backed_up_deployment_starts_pods_after_its_source_image_is_gone(
    env: Env,
    operator: OperatorProcess,
    node: Node,
    backing: Backing,
    tmp_path: Path,
) -> None:
    source, backup = backing.source, backing.backup
    assert backup.ca_path is not None
    layout = tmp_path / "layout"
    image = runnable_image(marker=f"public-{uuid.uuid4().hex}")
    write_layout(image, layout, "v1")
    digest = push(layout, "team/app:v1", source)
    original = f"{source.host}/team/app:v1"
    env.apps.create_namespaced_deployment(env.namespace, deployment("app", original))

    credentials = push_credentials(env.core, env.namespace)
    name = create_backup(
        env.custom, backing.backups, source, (backup.host, backup.ca_path.read_text()), credentials
    )
    try:
        record = eventually(
            lambda: (
                (r := image_record(env.custom, name, parse(original).name)) is not None
                and r["state"] == "BackedUp"
                and r
            ),
            timeout=POD_TIMEOUT,
            what="the image backed up",
        )
    except AssertionError as e:
        raise AssertionError(f"{e}: {get_backup(env.custom, name).get('status')}") from e
    assert record["digest"] == digest

    def images_of_running_pods() -> set[str] | None:
        pods = env.core.list_namespaced_pod(env.namespace, label_selector="e2e.cheiron/app=app")
        states = pod_states(env.core, env.namespace, "app")
        running = {p.name for p in states if p.running}
        images = {p.spec.containers[0].image for p in pods.items if p.metadata.name in running}
        return images if images == {record["backup"]} and len(running) == len(states) else None

    # The Deployment is rewritten and rolls out Pods pulling from the backup, with its Secret.
    eventually(images_of_running_pods, timeout=POD_TIMEOUT, what="Pods running the backup")

    # The public image disappears, and the node forgets every copy it had.
    source.delete_manifest("team/app", digest)
    with pytest.raises(RegistryError):
        source.manifest_digest("team/app", "v1")
    assert node.forget_images(source.host)
    assert node.forget_images(backup.host)
    template = env.apps.read_namespaced_deployment("app", env.namespace).spec.template.spec
    fresh = bare_pod("fresh", template.containers[0].image)
    env.core.create_namespaced_pod(env.namespace, fresh)
    (state,) = eventually(
        lambda: [p for p in pod_states(env.core, env.namespace, "fresh") if p.running],
        timeout=POD_TIMEOUT,
        what="a new Pod started from the backup",
    )
    assert f"backup-{name}" in state.pull_secrets
