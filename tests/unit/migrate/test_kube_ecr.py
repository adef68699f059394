"""kube-ecr-secrets-operator's objects become managers with ECR entries; keys move by pipe."""

from cheiron.api.models import ClusterImagePullSecretManagerSpec, ImagePullSecretManagerSpec
from cheiron.migrate import kube_ecr
from cheiron.migrate.common import SecretFacts
from tests.unit.migrate.support import unwrapped

HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
ACCESS = {"accessKeyId": "QUtJQUVYQU1QTEU=", "secretAccessKey": "c2VjcmV0", "region": "eu-west-1"}
NAMESPACED = {
    "metadata": {"name": "my-ecr-credentials", "namespace": "shop"},
    "spec": {"awsAccess": ACCESS, "secretName": "ecr-login"},
}
CLUSTER = {
    "metadata": {"name": "test-ecr-credentials"},
    "spec": {"awsAccess": ACCESS, "secretName": "ecr-login", "namespaces": ["ns1", "ns2"]},
}


def _written(namespace: str) -> SecretFacts:
    return SecretFacts(
        namespace,
        "ecr-login",
        "kubernetes.io/dockerconfigjson",
        frozenset({".dockerconfigjson"}),
        registries=(HOST,),
    )


def test_both_kinds_become_managers_and_no_key_is_printed() -> None:
    written = {
        ("shop", "my-ecr-credentials"): _written("shop"),
        ("", "test-ecr-credentials"): _written("ns1"),
    }
    migration = kube_ecr.migrate([NAMESPACED], [CLUSTER], written, "cheiron-system")
    mine, theirs = migration.manifests
    assert mine.body["kind"] == "ImagePullSecretManager"
    assert mine.body["metadata"] == {"name": "my-ecr-credentials", "namespace": "shop"}
    spec = ImagePullSecretManagerSpec.model_validate(mine.body["spec"])
    (entry,) = spec.secrets
    assert entry.name == "ecr-login"
    assert entry.ecr is not None
    assert entry.ecr.registry == HOST
    assert entry.ecr.credentials_secret_ref is not None
    assert entry.ecr.credentials_secret_ref.name == "my-ecr-credentials-aws-keys"
    cluster = ClusterImagePullSecretManagerSpec.model_validate(theirs.body["spec"])
    assert cluster.target is not None
    assert cluster.target.namespaces is not None
    assert cluster.target.namespaces.names == ["ns1", "ns2"]
    (cluster_entry,) = cluster.secrets
    assert cluster_entry.ecr is not None
    assert cluster_entry.ecr.credentials_secret_ref is not None
    assert cluster_entry.ecr.credentials_secret_ref.namespace == "cheiron-system"
    text = migration.render()
    for value in ACCESS.values():
        if value != "eu-west-1":
            assert value not in text
    shop, cluster_command = migration.commands
    assert "awsecrimagepullsecrets.aws.zakariaamine.com my-ecr-credentials -n shop" in shop
    assert "{{.spec.awsAccess.accessKeyId}}" in shop
    assert "kubectl create -f -" in shop
    assert (
        "clusterawsecrimagepullsecrets.aws.zakariaamine.com test-ecr-credentials -o"
        in cluster_command
    )


def test_an_unknown_account_is_reported() -> None:
    migration = kube_ecr.migrate([NAMESPACED], [], {}, "cheiron-system")
    (manifest,) = migration.manifests
    assert manifest.body["spec"]["secrets"][0]["ecr"]["region"] == "eu-west-1"
    assert any("add ecr.accountID" in n for n in migration.notes)


def _owned(namespace: str, uid: str, name: str = "ecr-login") -> SecretFacts:
    """A Secret the operator wrote: an ownerReference to its object."""
    return SecretFacts(
        namespace,
        name,
        "kubernetes.io/dockerconfigjson",
        frozenset({".dockerconfigjson"}),
        annotations={"expiry": "2030-01-01T00:00:00Z"},
        owner_uids=(uid,),
        registries=(HOST,),
    )


def test_adopt_labels_each_secret_its_object_owns() -> None:
    namespaced = {**NAMESPACED, "metadata": {**NAMESPACED["metadata"], "uid": "u-ns"}}
    cluster = {**CLUSTER, "metadata": {**CLUSTER["metadata"], "uid": "u-cl"}}
    assert kube_ecr.places(cluster) == [("ns1", "ecr-login"), ("ns2", "ecr-login")]
    found = [
        _owned("shop", "u-ns"),
        _owned("ns1", "u-cl"),
        _owned("ns2", "someone-else"),  # same name, not the operator's: left alone
    ]
    migration = kube_ecr.migrate([namespaced], [cluster], {}, "cheiron-system", found, adopt=True)
    assert migration.labels == [
        "kubectl label secret ecr-login -n shop cheiron.anny.co/adopt=my-ecr-credentials "
        "--overwrite",
        "kubectl label secret ecr-login -n ns1 cheiron.anny.co/adopt=test-ecr-credentials "
        "--overwrite",
    ]
    plain = kube_ecr.migrate([namespaced], [cluster], {}, "cheiron-system", found)
    assert not plain.labels
    assert "(ns1/ecr-login, shop/ecr-login) are reported as SecretConflict" in unwrapped(
        plain.render()
    )
