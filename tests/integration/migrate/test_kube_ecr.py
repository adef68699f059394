"""kube-ecr-secrets-operator → cheiron on the real control plane: its CRDs, README objects."""

import base64
import json

from kubernetes import client

from tests.integration.migrate.support import Migrate, managers_named, secret_text
from tests.support import peers

GROUP, VERSION = "aws.zakariaamine.com", "v1alpha2"
HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
ACCESS_KEY = "AKIAKUBEECRNEVERSHOWN"
SECRET_KEY = "kube-ecr-secret-access-key-never-shown"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# As stored: the operator's mutating webhook base64-encodes both keys at CREATE (there is no
# webhook here, so the test stores what it would have).
ACCESS = {
    "accessKeyId": _b64(ACCESS_KEY),
    "secretAccessKey": _b64(SECRET_KEY),
    "region": "eu-west-1",
}


def _written(core: client.CoreV1Api, namespace: str, owner: dict[str, object]) -> None:
    """The Secret the operator writes: dockerconfigjson for the key owner's registry."""
    meta = owner["metadata"]
    assert isinstance(meta, dict)
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(
                name="ecr-login",
                annotations={"expiry": "2030-01-01T00:00:00Z"},
                owner_references=[
                    client.V1OwnerReference(
                        api_version=f"{GROUP}/{VERSION}",
                        kind=owner["kind"],
                        name=meta["name"],
                        uid=meta["uid"],
                    )
                ],
            ),
            type="kubernetes.io/dockerconfigjson",
            string_data={
                ".dockerconfigjson": json.dumps(
                    {
                        "auths": {
                            HOST: {"username": "AWS", "password": "tok", "auth": _b64("AWS:tok")}
                        }
                    }
                )
            },
        ),
    )


def test_both_kinds_become_managers_and_the_keys_move_unseen(
    migrate: Migrate,
    api_client: client.ApiClient,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    peers.install_crds(api_client, "kube-ecr")
    mine = custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "awsecrimagepullsecrets",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "AWSECRImagePullSecret",
            "metadata": {"name": "my-ecr-credentials"},
            "spec": {"awsAccess": ACCESS, "secretName": "ecr-login"},
        },
    )
    _written(core, namespace, mine)
    cluster_name = f"ecr-{namespace}"
    custom.create_cluster_custom_object(
        GROUP,
        VERSION,
        "clusterawsecrimagepullsecrets",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "ClusterAWSECRImagePullSecret",
            "metadata": {"name": cluster_name},
            "spec": {"awsAccess": ACCESS, "secretName": "ecr-login", "namespaces": [namespace]},
        },
    )
    try:
        output = migrate.run("--from", "kube-ecr", "--credentials-namespace", namespace)
        shown = migrate.run_commands(output)
    finally:
        custom.delete_cluster_custom_object(
            GROUP, VERSION, "clusterawsecrimagepullsecrets", cluster_name
        )
    for value in (ACCESS_KEY, SECRET_KEY, *ACCESS.values()):
        if value != "eu-west-1":
            assert value not in output
            assert value not in shown
    # The keys arrived, in imps' format, readable by the managers' credentialsSecretRef.
    for keys in ("my-ecr-credentials-aws-keys", f"{cluster_name}-aws-keys"):
        assert secret_text(core, namespace, keys) == {
            "accessKeyID": ACCESS_KEY,
            "secretKey": SECRET_KEY,
            "region": "eu-west-1",
        }
    namespaced = managers_named(output, "my-ecr-credentials")
    assert namespaced["kind"] == "ImagePullSecretManager"
    assert namespaced["metadata"]["namespace"] == namespace
    cluster = managers_named(output, cluster_name)
    stored = migrate.apply(output, ["my-ecr-credentials", cluster_name])
    (entry,) = stored[0]["spec"]["secrets"]
    assert entry == {
        "name": "ecr-login",
        "ecr": {"registry": HOST, "credentialsSecretRef": {"name": "my-ecr-credentials-aws-keys"}},
    }
    (cluster_entry,) = stored[1]["spec"]["secrets"]
    assert cluster_entry["ecr"]["credentialsSecretRef"] == {
        "name": f"{cluster_name}-aws-keys",
        "namespace": namespace,
    }
    assert cluster["spec"]["target"]["namespaces"]["names"] == [namespace]
