"""kube-ecr-secrets-operator's (Cluster)AWSECRImagePullSecrets as ECR managers (pure)."""

from collections.abc import Iterable, Mapping
from typing import Any

from cheiron.migrate.common import (
    Migration,
    SecretFacts,
    Takeover,
    cluster_manager,
    copy_command,
    namespaced_manager,
    take_over,
)

GROUP = "aws.zakariaamine.com"
VERSION = "v1alpha2"
PLURAL = "awsecrimagepullsecrets"
CLUSTER_PLURAL = "clusterawsecrimagepullsecrets"
# The operator's mutating webhook stores both keys base64-encoded in the spec at CREATE.
KEY_FIELDS = {
    "accessKeyID": ".spec.awsAccess.accessKeyId",
    "secretKey": ".spec.awsAccess.secretAccessKey",
}
KEYS_SUFFIX = "-aws-keys"

# (namespace or "" for the cluster kind, object name) -> a Secret it wrote, if any.
ObjectKey = tuple[str, str]

TAKEOVER = Takeover(
    "kube-ecr-secrets-operator",
    "scale its Deployment to 0 replicas. It rewrites its Secrets at every refresh and would "
    "undo the takeover.",
    "Delete the AWSECRImagePullSecrets and ClusterAWSECRImagePullSecrets (their spec holds "
    "the AWS keys) and uninstall the operator (its Deployment, webhook and CRDs); the garbage "
    "collector deletes the Secrets they still own.",
)


def written_secret(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    """Where to look for a Secret the operator wrote for `obj` (namespace, name)."""
    spec = obj.get("spec") or {}
    name = spec.get("secretName")
    namespace = obj["metadata"].get("namespace") or next(iter(spec.get("namespaces") or []), None)
    return (str(namespace), str(name)) if name and namespace else None


def places(obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Where the operator writes `obj`'s Secret (namespace, name): where the manager writes."""
    spec = obj.get("spec") or {}
    name = str(spec.get("secretName") or "")
    own = obj["metadata"].get("namespace")
    namespaces = [str(own)] if own else [str(n) for n in spec.get("namespaces") or []]
    return [(n, name) for n in namespaces] if name else []


def key_of(obj: Mapping[str, Any]) -> ObjectKey:
    """The object's (namespace, name); namespace empty for the cluster kind."""
    return (str(obj["metadata"].get("namespace") or ""), str(obj["metadata"]["name"]))


def migrate(
    namespaced: Iterable[Mapping[str, Any]],
    cluster: Iterable[Mapping[str, Any]],
    written: Mapping[ObjectKey, SecretFacts | None],
    credentials_namespace: str,
    pull_secrets: Iterable[SecretFacts] = (),
    *,
    adopt: bool = False,
) -> Migration:
    """An ImagePullSecretManager per AWSECRImagePullSecret, a cluster one per cluster kind.

    `pull_secrets`: the Secrets found at the objects' `places`, those the managers may take
    over.
    """
    migration = Migration("kube-ecr", adopt=adopt, takeover=TAKEOVER)
    found = list(pull_secrets)
    for obj in sorted(namespaced, key=key_of):
        _one(obj, written.get(key_of(obj)), None, found, migration)
    for obj in sorted(cluster, key=key_of):
        _one(obj, written.get(key_of(obj)), credentials_namespace, found, migration)
    if migration.manifests:
        migration.notes.extend(
            [
                "The operator keeps the AWS keys in each object's spec.awsAccess (base64); "
                "the commands above copy them into Secrets in imps' format (accessKeyID, "
                "secretKey, region), which the managers' credentialsSecretRef read. Once "
                "cheiron's Secrets are in place, delete the objects so the keys live only in "
                "Secrets.",
                "Renewal: the operator refreshed every 12 h; cheiron renews at half the "
                "lifetime AWS reports.",
                "The operator's Secrets carry an ownerReference to their object (and an "
                "`expiry` annotation, no labels); the takeover above concerns those named "
                "spec.secretName, owned by the object, where the manager writes. cheiron "
                "never overwrites a Secret it did not create unless it is labelled for "
                "adoption.",
            ]
        )
    return migration


def _one(
    obj: Mapping[str, Any],
    written: SecretFacts | None,
    credentials_namespace: str | None,
    found: list[SecretFacts],
    migration: Migration,
) -> None:
    namespace, name = key_of(obj)
    spec = obj.get("spec") or {}
    region = str((spec.get("awsAccess") or {}).get("region") or "")
    secret_name = str(spec.get("secretName") or "")
    kind = "ClusterAWSECRImagePullSecret" if credentials_namespace else "AWSECRImagePullSecret"
    what = f"{kind} {'/'.join(filter(None, (namespace, name)))}"
    keys_namespace = credentials_namespace or namespace
    keys_name = f"{name}{KEYS_SUFFIX}"[:253]
    ecr: dict[str, Any] = {"credentialsSecretRef": {"name": keys_name}}
    if credentials_namespace:
        ecr["credentialsSecretRef"]["namespace"] = credentials_namespace
    hosts = written.ecr_hosts if written is not None else []
    if len(hosts) == 1:
        ecr["registry"] = hosts[0]
    else:
        # The operator asks AWS for the key owner's default registry: its account is
        # nowhere in the spec, only in the host of a Secret it wrote.
        migration.notes.append(
            f"{what}: no Secret it wrote names one ECR registry, so its AWS account is "
            "unknown; add ecr.accountID (or ecr.registry) to the entry."
        )
        if region:
            ecr["region"] = region
    entry = {"name": secret_name, "ecr": ecr}
    resource = f"{CLUSTER_PLURAL if credentials_namespace else PLURAL}.{GROUP} {name}"
    migration.commands.append(
        copy_command(
            resource,
            namespace or None,
            keys_namespace,
            keys_name,
            KEY_FIELDS,
            tool="kube-ecr",
            string_data={"region": region} if region else None,
        )
    )
    comments = [f"From kube-ecr-secrets-operator {what}."]
    if credentials_namespace:
        names = [str(n) for n in spec.get("namespaces") or []]
        manifest = cluster_manager(
            name,
            {"secrets": [entry], "target": {"namespaces": {"names": names}}},
            comments,
            migration,
        )
    else:
        manifest = namespaced_manager(namespace, name, {"secrets": [entry]}, comments, migration)
    if manifest is None:
        return
    # The operator's mark: an ownerReference to the object, by UID.
    uid = str(obj["metadata"].get("uid") or "")
    where = set(places(obj))
    mine = [s for s in found if (s.namespace, s.name) in where and uid and uid in s.owner_uids]
    take_over(migration, name, mine)
