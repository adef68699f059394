"""rewrite=Pods: workload specs stay as GitOps wrote them; new Pods get the backups at CREATE."""

import json
import uuid

from kubernetes import client

from cheiron.api.meta import BACKUP_ORIGINALS, IGNORE
from tests.integration.backup.conftest import Env, deployment, template_images
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually


def _pod(image: str, annotations: dict[str, str] | None = None) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=f"p-{uuid.uuid4().hex[:6]}", annotations=annotations),
        spec=client.V1PodSpec(
            containers=[client.V1Container(name="main", image=image)],
            image_pull_secrets=[client.V1LocalObjectReference(name="own")],
        ),
    )


def test_new_pods_get_the_backup_and_the_workload_is_untouched(
    backup_operator: OperatorProcess, env: Env
) -> None:
    digest = env.push("podsweb", "podsweb", index=True)
    ref = f"{env.source.host}/team/podsweb:v1"
    name = env.create_backup(rewrite="Pods")
    env.apps.create_namespaced_deployment(env.namespace, deployment("web", ref))
    record = env.wait_for_state(name, ref, "BackedUp")
    assert record["backup"] == f"{env.backup.host}/{env.backup_repo('podsweb')}:v1@{digest}"
    secret = f"backup-{name}"

    # The webhook decides from the cache views; the status reaches them a moment later.
    pod = eventually(
        lambda: (
            (p := env.core.create_namespaced_pod(env.namespace, _pod(ref))).spec.containers[0].image
            == record["backup"]
            and p
        ),
        timeout=30,
        what="a new Pod rewritten by the webhook",
    )
    # The Pod lists pull Secrets of its own, so the backup's is added to them.
    assert [r.name for r in pod.spec.image_pull_secrets] == ["own", secret]
    assert json.loads(pod.metadata.annotations[BACKUP_ORIGINALS]) == {"containers/0": ref}
    # Pods the Deployment's ReplicaSet creates from now on get it too, the spec stays.
    env.apps.patch_namespaced_deployment("web", env.namespace, {"spec": {"replicas": 2}})
    eventually(
        lambda: (
            record["backup"]
            in [
                p.spec.containers[0].image
                for p in env.core.list_namespaced_pod(env.namespace, label_selector="app=web").items
            ]
        ),
        timeout=30,
        what="a ReplicaSet Pod with the backup image",
    )
    assert template_images(env.apps, env.namespace, "web") == [ref]
    quiet = env.core.create_namespaced_pod(env.namespace, _pod(ref, {IGNORE: "true"}))
    assert quiet.spec.containers[0].image == ref
    unknown = f"{env.source.host}/team/never-backed-up:v1"
    assert (
        env.core.create_namespaced_pod(env.namespace, _pod(unknown)).spec.containers[0].image
        == unknown
    )
