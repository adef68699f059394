"""imps → cheiron on the real control plane: imps' CRD, its README's objects, the output applied."""

import base64
import json
from pathlib import Path

from kubernetes import client

from cheiron.devcluster import ControlPlane
from tests.integration.migrate.support import Migrate, managers_named, secret_text
from tests.support import peers
from tests.support.managers import delete_manager, docker_config
from tests.support.namespaces import fresh_namespace
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually

PASSWORD = "imps-docker-password-never-printed"
ACCESS_KEY = "AKIAIMPSNEVERPRINTED"
SECRET_KEY = "imps-aws-secret-key-never-printed"
INJECT = {"sidecar.istio.io/inject": "true"}


def _dockerconfig(registry: str, password: str) -> str:
    auth = base64.b64encode(f"user:{password}".encode()).decode()
    return json.dumps(
        {"auths": {registry: {"username": "user", "password": password, "auth": auth}}}
    )


def _sources(core: client.CoreV1Api, namespace: str) -> None:
    """The source Secrets of imps' README: a docker login and an ECR login config."""
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="docker-hub"),
            type="kubernetes.io/dockerconfigjson",
            string_data={
                ".dockerconfigjson": _dockerconfig("https://index.docker.io/v1/", PASSWORD)
            },
        ),
    )
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="ecr-pull-secret"),
            type="banzaicloud.io/aws-ecr-login-config",
            string_data={
                "accessKeyID": ACCESS_KEY,
                "secretKey": SECRET_KEY,
                "region": "eu-west-1",
                "accountID": "123456789012",
                "roleArn": "arn:aws:iam::123456789012:role/ecr-puller",
            },
        ),
    )


def _imps(name: str, source_ns: str, target_ns: str, credentials: list[str]) -> dict[str, object]:
    """An ImagePullSecret shaped like imps' README examples."""
    return {
        "apiVersion": "images.banzaicloud.io/v1alpha1",
        "kind": "ImagePullSecret",
        "metadata": {"name": name},
        "spec": {
            "registry": {"credentials": [{"name": c, "namespace": source_ns} for c in credentials]},
            "target": {
                "namespaces": {
                    "annotations": [{"matchAnnotations": INJECT}],
                    "names": [target_ns],
                },
                "namespacesWithPods": {"annotations": [{"matchAnnotations": INJECT}]},
                "secret": {"name": "istio-pull-secret"},
            },
        },
    }


def _create(custom: client.CustomObjectsApi, body: dict[str, object]) -> None:
    custom.create_cluster_custom_object(
        "images.banzaicloud.io", "v1alpha1", "imagepullsecrets", body
    )


def _delete(custom: client.CustomObjectsApi, name: str) -> None:
    custom.delete_cluster_custom_object(
        "images.banzaicloud.io", "v1alpha1", "imagepullsecrets", name
    )


def test_imps_becomes_a_cluster_manager_the_apiserver_accepts(
    migrate: Migrate,
    api_client: client.ApiClient,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    peers.install_crds(api_client, "imps")
    _sources(core, namespace)
    name = f"imps-{namespace}"
    _create(custom, _imps(name, namespace, "backyards-system", ["docker-hub", "ecr-pull-secret"]))
    try:
        output = migrate.run("--from", "imps")
    finally:
        _delete(custom, name)
    for value in (PASSWORD, ACCESS_KEY, SECRET_KEY):
        assert value not in output
        assert base64.b64encode(value.encode()).decode() not in output
    manager = managers_named(output, name)
    assert manager["kind"] == "ClusterImagePullSecretManager"
    (stored,) = migrate.apply(output, [name])
    spec = stored["spec"]
    assert spec["target"]["secret"]["name"] == "istio-pull-secret"
    assert spec["target"]["namespaces"]["names"] == ["backyards-system"]
    assert spec["target"]["namespaces"]["annotations"] == [{"matchAnnotations": INJECT}]
    assert spec["target"]["namespacesWithPods"]["annotations"] == [{"matchAnnotations": INJECT}]
    hub, ecr = spec["secrets"]
    assert hub["existingSecretRef"] == {"name": "docker-hub", "namespace": namespace}
    assert ecr["ecr"]["credentialsSecretRef"] == {"name": "ecr-pull-secret", "namespace": namespace}
    assert ecr["ecr"]["roleArn"] == "arn:aws:iam::123456789012:role/ecr-puller"
    # cheiron reads the ECR Secret as it is: imps' key names are its own.
    assert {"accessKeyID", "secretKey", "region", "accountID"} <= set(
        secret_text(core, namespace, "ecr-pull-secret")
    )


def test_the_merged_secret_lands_with_the_same_content(  # noqa: PLR0917 - fixtures
    migrate: Migrate,
    control_plane: ControlPlane,
    api_client: client.ApiClient,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
    tmp_path: Path,
) -> None:
    peers.install_crds(api_client, "imps")
    _sources(core, namespace)
    name = f"imps-{namespace}"
    with fresh_namespace(core, "imps-target") as target:
        core.patch_namespace(target, {"metadata": {"annotations": INJECT}})
        _create(custom, _imps(name, namespace, "no-such-namespace", ["docker-hub"]))
        try:
            output = migrate.run("--from", "imps")
        finally:
            _delete(custom, name)
        migrate.apply(output, [name])
        with OperatorProcess(control_plane.kubeconfig_path, tmp_path / "operator.log"):
            try:
                landed = eventually(
                    lambda: core.read_namespaced_secret("istio-pull-secret", target),
                    what="the merged Secret in the annotated namespace",
                )
                source = core.read_namespaced_secret("docker-hub", namespace)
                assert docker_config(landed) == docker_config(source)
            finally:
                delete_manager(custom, None, name)
