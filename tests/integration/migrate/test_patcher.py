"""imagepullsecret-patcher → cheiron on the real control plane: its example Deployment."""

import json
from typing import Any

from kubernetes import client

from tests.integration.migrate.support import Migrate, managers_named, secret_text
from tests.support import peers

INLINE = json.dumps({"auths": {"registry.example": {"auth": "cGF0Y2hlcjpuZXZlci1zaG93bg=="}}})


def _example() -> tuple[dict[str, Any], dict[str, Any]]:
    """The README's Secret and Deployment, its quantities as strings.

    This client wants strings; kubectl, which the README uses, takes YAML numbers.
    """
    secret, deployment = peers.documents("patcher")
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        for limits in (container.get("resources") or {}).values():
            limits.update({k: str(v) for k, v in limits.items()})
    return secret, deployment


def _apply_example(
    core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str
) -> dict[str, Any]:
    """The README's deploy example, in the test's namespace; its Deployment returned."""
    secret, deployment = _example()
    secret["metadata"]["namespace"] = namespace
    deployment["metadata"]["namespace"] = namespace
    core.create_namespaced_secret(namespace, secret)
    apps.create_namespaced_deployment(namespace, deployment)
    return deployment


def test_the_example_deployment_becomes_a_cluster_manager(
    migrate: Migrate,
    api_client: client.ApiClient,
    core: client.CoreV1Api,
    apps: client.AppsV1Api,
    namespace: str,
) -> None:
    _apply_example(core, apps, namespace)
    core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(
                name=f"{namespace}-quiet",
                annotations={"k8s.titansoft.com/imagepullsecret-patcher-exclude": "true"},
            )
        )
    )
    try:
        output = migrate.run(
            "--from", "patcher", "--patcher-deployment", f"{namespace}/imagepullsecret-patcher"
        )
    finally:
        core.delete_namespace(f"{namespace}-quiet")
    source = secret_text(core, namespace, "image-pull-secret-src")[".dockerconfigjson"]
    assert source not in output
    assert "ImFjbF" not in output  # nothing of the example's base64 either
    (stored,) = migrate.apply(output, ["imagepullsecret-patcher"])
    spec = stored["spec"]
    assert spec["secrets"] == [
        {
            "name": "image-pull-secret",
            "existingSecretRef": {"name": "image-pull-secret-src", "namespace": namespace},
        }
    ]
    assert f"{namespace}-quiet" in spec["excludeNamespaces"]
    assert "serviceAccountSelector" not in spec  # CONFIG_ALLSERVICEACCOUNT=true
    assert "kube-system" in output  # the note that cheiron leaves kube-system out


def test_inline_credentials_move_through_a_pipe(
    migrate: Migrate,
    core: client.CoreV1Api,
    apps: client.AppsV1Api,
    namespace: str,
) -> None:
    _, deployment = _example()
    deployment["metadata"]["namespace"] = namespace
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [
        {"name": "CONFIG_SECRETNAME", "value": "regcred"},
        {"name": "CONFIG_SERVICEACCOUNTS", "value": "default,builder"},
        {"name": "CONFIG_EXCLUDED_NAMESPACES", "value": "kube-system,legacy"},
        {"name": "CONFIG_DOCKERCONFIGJSON", "value": INLINE},
    ]
    container.pop("volumeMounts")
    deployment["spec"]["template"]["spec"].pop("volumes")
    apps.create_namespaced_deployment(namespace, deployment)
    output = migrate.run(
        "--from", "patcher", "--patcher-deployment", f"{namespace}/imagepullsecret-patcher"
    )
    shown = migrate.run_commands(output)
    for text in (output, shown):
        assert "cGF0Y2hlcjpuZXZlci1zaG93bg==" not in text
    # The same bytes as the Deployment's variable, now in a Secret cheiron can copy.
    copied = core.read_namespaced_secret("regcred-source", namespace)
    assert copied.type == "kubernetes.io/dockerconfigjson"
    assert secret_text(core, namespace, "regcred-source") == {".dockerconfigjson": INLINE}
    assert copied.metadata.labels == {"cheiron.anny.co/migrated-from": "patcher"}
    manager = managers_named(output, "imagepullsecret-patcher")
    # Namespaces annotated with the patcher's opt-out anywhere in the cluster are in it too.
    assert {"kube-system", "legacy"} <= set(manager["spec"]["excludeNamespaces"])
    assert manager["spec"]["serviceAccountSelector"]["names"] == ["default", "builder"]
    (stored,) = migrate.apply(output, ["imagepullsecret-patcher"])
    assert stored["spec"]["secrets"][0]["existingSecretRef"] == {
        "name": "regcred-source",
        "namespace": namespace,
    }
