"""rewrite=Workloads on the real control plane: back up, verify, rewrite, survive the source."""

import json

import pytest
from kubernetes import client

from cheiron.api.meta import BACKUP_ORIGINALS, IGNORE
from tests.integration.backup.conftest import Env, deployment, template_images
from tests.support.backups import create_backup, get_backup
from tests.support.managers import events_for, pull_secrets
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually
from tests.support.registry import RegistryError

TIMEOUT = 60


def test_deployment_is_backed_up_rewritten_and_outlives_its_source(
    backup_operator: OperatorProcess, env: Env
) -> None:
    web_digest = env.push("web", "web", index=True)
    init_digest = env.push("init", "init")
    web_ref = f"{env.source.host}/team/web:v1"
    init_ref = f"{env.source.host}/team/init@{init_digest}"
    name = env.create_backup()
    env.apps.create_namespaced_deployment(
        env.namespace, deployment("web", web_ref, init_image=init_ref)
    )

    record = env.wait_for_state(name, web_ref, "BackedUp")
    # Digests equal, every platform there: the copy is the source, byte for byte.
    web_repo = env.backup_repo("web")
    assert record["digest"] == web_digest
    assert record["backup"] == f"{env.backup.host}/{web_repo}:v1@{web_digest}"
    index = env.backup.manifest(web_repo, web_digest)
    assert index.digest == web_digest
    for platform in index.json()["manifests"]:
        assert env.backup.manifest_digest(web_repo, platform["digest"]) == platform["digest"]
    assert len(index.json()["manifests"]) == 2

    secret = f"backup-{name}"
    expected = [
        f"{env.backup.host}/{env.backup_repo('init')}@{init_digest}",
        record["backup"],
    ]
    eventually(
        lambda: template_images(env.apps, env.namespace, "web") == expected,
        timeout=TIMEOUT,
        what="template pointed at the backups",
    )
    # Rewritten only once Pods could pull: the Secret is there and the ServiceAccount lists it.
    stored = env.core.read_namespaced_secret(secret, env.namespace)
    assert stored.type == "kubernetes.io/dockerconfigjson"
    assert secret in pull_secrets(env.core, env.namespace)
    annotations = env.apps.read_namespaced_deployment("web", env.namespace).metadata.annotations
    assert json.loads(annotations[BACKUP_ORIGINALS]) == {
        "initContainers/0": init_ref,
        "containers/0": web_ref,
    }
    eventually(
        lambda: (
            {"ImageBackedUp", "ImageRewritten"}
            <= {e.reason for e in events_for(env.core, env.namespace, "web")}
        ),
        what="events on the Deployment",
    )

    # The source disappears; a new Pod still resolves to the backup.
    env.source.delete_manifest("team/web", web_digest)
    with pytest.raises(RegistryError) as gone:
        env.source.manifest_digest("team/web", "v1")
    assert gone.value.status == 404
    template = env.apps.read_namespaced_deployment("web", env.namespace).spec.template.spec
    pod = env.core.create_namespaced_pod(
        env.namespace, client.V1Pod(metadata=client.V1ObjectMeta(name="fresh"), spec=template)
    )
    assert pod.spec.containers[0].image == record["backup"]
    assert secret in [r.name for r in pod.spec.image_pull_secrets or []]
    assert env.backup.manifest_digest(web_repo, web_digest) == web_digest


def test_failing_backup_registry_leaves_the_workload_alone(
    backup_operator: OperatorProcess, env: Env
) -> None:
    env.push("refused", "refused")
    ref = f"{env.source.host}/team/refused:v1"
    wrong = "not-the-password"
    name = env.create_backup(password=wrong)
    env.apps.create_namespaced_deployment(env.namespace, deployment("refused", ref))

    record = env.wait_for_state(name, ref, "Failed")
    assert "unauthorized" in record["lastError"].lower() or "401" in record["lastError"]
    assert wrong not in json.dumps(
        env.custom.list_cluster_custom_object("cheiron.anny.co", "v1alpha1", "clusterimagebackups")
    )
    assert record["attempts"] >= 1
    assert record["nextAttempt"]
    assert template_images(env.apps, env.namespace, "refused") == [ref]
    condition = next(
        c
        for c in env.custom.get_cluster_custom_object(
            "cheiron.anny.co", "v1alpha1", "clusterimagebackups", name
        )["status"]["conditions"]
        if c["type"] == "Ready"
    )
    assert condition["status"] == "False"
    assert ref in condition["message"]


def test_missing_push_credentials_fail_each_image_with_the_secret_named(
    backup_operator: OperatorProcess, env: Env
) -> None:
    env.push("nocreds", "nocreds")
    ref = f"{env.source.host}/team/nocreds:v1"
    absent = {"name": "no-such-secret", "namespace": env.namespace}
    name = create_backup(env.custom, env.backups, env.source, env.backup_at, absent)
    env.apps.create_namespaced_deployment(env.namespace, deployment("nocreds", ref))

    record = env.wait_for_state(name, ref, "Failed")
    assert record["lastError"] == f"Secret {env.namespace}/no-such-secret not found"
    assert record["attempts"] >= 1
    assert template_images(env.apps, env.namespace, "nocreds") == [ref]


def test_stopped_backup_registry_leaves_the_workload_alone(
    backup_operator: OperatorProcess, env: Env
) -> None:
    env.push("stopped", "stopped")
    ref = f"{env.source.host}/team/stopped:v1"
    env.backup.stop()
    name = env.create_backup()
    env.apps.create_namespaced_deployment(env.namespace, deployment("stopped", ref))

    record = env.wait_for_state(name, ref, "Failed")
    assert record["lastError"]
    assert template_images(env.apps, env.namespace, "stopped") == [ref]


def _covered_and_rewritten(env: Env, name: str) -> None:
    """A Deployment of the pushed `covered` image in the test's namespace, rewritten."""
    covered = f"{env.source.host}/team/covered:v1"
    env.apps.create_namespaced_deployment(env.namespace, deployment("covered", covered))
    record = env.wait_for_state(name, covered, "BackedUp")
    eventually(
        lambda: template_images(env.apps, env.namespace, "covered") == [record["backup"]],
        timeout=TIMEOUT,
        what="covered workload rewritten",
    )


def test_excluded_namespace_and_opted_out_workload_are_untouched(
    backup_operator: OperatorProcess, env: Env
) -> None:
    env.push("kept", "kept")
    env.push("covered", "covered")
    ref = f"{env.source.host}/team/kept:v1"
    other = f"{env.namespace}-excluded"
    env.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=other)))
    try:
        name = env.create_backup(excludeNamespaces=[other])
        env.apps.create_namespaced_deployment(
            env.namespace, deployment("quiet", ref, annotations={IGNORE: "true"})
        )
        env.apps.create_namespaced_deployment(other, deployment("elsewhere", ref))
        # Once the covered workload is rewritten, a pass has seen all three.
        _covered_and_rewritten(env, name)
        assert env.record(name, ref) is None
        assert template_images(env.apps, env.namespace, "quiet") == [ref]
        assert template_images(env.apps, other, "elsewhere") == [ref]
        secrets = [s.metadata.name for s in env.core.list_namespaced_secret(other).items]
        assert f"backup-{name}" not in secrets
    finally:
        env.core.delete_namespace(other)


def test_a_tenants_originals_annotation_earns_no_backup_credentials(
    backup_operator: OperatorProcess, env: Env
) -> None:
    """The originals annotation is the tenants' to write: it gets nobody the pull Secret.

    Before, any workload carrying it made its namespace receive the backup registry's
    credentials, so a tenant could read (or, with the push ones, overwrite) every backup.
    """
    env.push("covered", "covered")
    tenant = f"{env.namespace}-tenant"
    env.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=tenant)))
    try:
        name = env.create_backup()
        claim = {BACKUP_ORIGINALS: json.dumps({"containers/0": "docker.io/library/nginx:1"})}
        # An image already in the backup registry: nothing for the backup to copy or rewrite.
        already = f"{env.backup.host}/bk/anything/app:v1"
        env.apps.create_namespaced_deployment(
            tenant, deployment("claims", already, annotations=claim)
        )
        _covered_and_rewritten(env, name)  # so a pass saw both
        status = get_backup(env.custom, name)["status"]
        assert status["namespaces"] == [env.namespace]
        assert f"backup-{name}" not in [
            s.metadata.name for s in env.core.list_namespaced_secret(tenant).items
        ]
    finally:
        env.core.delete_namespace(tenant)


def test_without_pull_credentials_no_namespace_gets_the_push_ones(
    backup_operator: OperatorProcess, env: Env
) -> None:
    env.push("covered", "covered")
    name = env.create_backup(pull=False)
    covered = f"{env.source.host}/team/covered:v1"
    env.apps.create_namespaced_deployment(env.namespace, deployment("covered", covered))
    # Backed up all the same; never pointed at it, since its Pods could not pull it.
    env.wait_for_state(name, covered, "BackedUp")

    def condition() -> dict[str, str] | None:
        found = get_backup(env.custom, name)
        for c in (found.get("status") or {}).get("conditions", []):
            if c["type"] == "Ready" and c["reason"] == "PullCredentialsRequired":
                return dict(c)
        return None

    ready = eventually(condition, what="Ready=False, PullCredentialsRequired")
    assert "pullCredentialsSecretRef" in ready["message"]
    assert template_images(env.apps, env.namespace, "covered") == [covered]
    assert f"backup-{name}" not in [
        s.metadata.name for s in env.core.list_namespaced_secret(env.namespace).items
    ]
