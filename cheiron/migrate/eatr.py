"""eatr's labelled namespaces and AWS key Secrets as a ClusterImagePullSecretManager (pure)."""

import re
from collections.abc import Iterable
from typing import Any, Literal

from cheiron.migrate.common import (
    Migration,
    NamespaceFacts,
    SecretFacts,
    cluster_manager,
    copy_command,
)

# eatr's defaults (its -host-namespace and -aws-credentials-secret-prefix flags).
HOST_NAMESPACE = "ci-cd"
SECRET_PREFIX = "eatr-aws-credentials"  # noqa: S105 - a name prefix, not a password
# eatr's own pattern for namespace label keys and Secret names.
REGISTRY = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>\w{2}-\w+-\d)\.amazonaws\.com$")
# eatr's key names -> imps' (cheiron's credentialsSecretRef format).
KEY_MAP = {
    "accessKeyID": "aws_access_key_id",
    "secretKey": "aws_secret_access_key",
    "region": "aws_region",
}
KEYS_PREFIX = "cheiron-ecr-"
MANAGER = "eatr"

Targeting = Literal["labels", "explicit"]


def labelled(namespaces: Iterable[NamespaceFacts]) -> dict[str, list[str]]:
    """The namespaces eatr serves, by registry host: those labelled `<host>: "true"`."""
    found: dict[str, list[str]] = {}
    for ns in namespaces:
        for key, value in ns.labels.items():
            if REGISTRY.match(key) and value == "true":
                found.setdefault(key, []).append(ns.name)
    return {host: sorted(names) for host, names in sorted(found.items())}


def migrate(
    namespaces: Iterable[NamespaceFacts],
    credentials: Iterable[SecretFacts],
    *,
    host_namespace: str = HOST_NAMESPACE,
    prefix: str = SECRET_PREFIX,
    targeting: Targeting = "labels",
) -> Migration:
    """ECR entries for every registry eatr has keys for, targeted by eatr's labels."""
    migration = Migration("eatr")
    wanted = labelled(namespaces)
    keys = {
        s.name.removeprefix(f"{prefix}-"): s
        for s in credentials
        if s.namespace == host_namespace
        and s.name.startswith(f"{prefix}-")
        and REGISTRY.match(s.name.removeprefix(f"{prefix}-"))
    }
    for host in wanted:
        if host not in keys:
            migration.notes.append(
                f"Namespaces {', '.join(wanted[host])} are labelled for {host}, but "
                f"{host_namespace} has no Secret {prefix}-{host}: eatr served them nothing "
                "either; no entry."
            )
    entries = {host: _entry(host, keys[host], migration) for host in sorted(keys)}
    if not entries:
        return migration
    if any("kube-system" in names for names in wanted.values()):
        migration.notes.append(
            "kube-system is labelled for eatr; cheiron never selects kube-system by labels "
            "(only by target.namespaces.names)."
        )
    if targeting == "labels":
        cluster_manager(
            MANAGER,
            {"secrets": list(entries.values()), "target": {"namespaces": {"names": []}}},
            [
                "From eatr. Run the operator with --eatr-namespace-labels",
                "(CHEIRON_EATR_NAMESPACE_LABELS=true): a namespace labelled",
                '`<registry host>: "true"` gets that entry\'s Secret; the target below',
                "selects nothing by itself.",
            ],
            migration,
        )
    else:
        for host, entry in entries.items():
            cluster_manager(
                f"{MANAGER}-{host}",
                {
                    "secrets": [entry],
                    "target": {"namespaces": {"labels": [{"matchLabels": {host: "true"}}]}},
                },
                [f'From eatr: namespaces labelled `{host}: "true"`.'],
                migration,
            )
    migration.notes.extend(
        [
            "eatr's keys use the names aws_access_key_id, aws_secret_access_key and "
            "aws_region, which cheiron's ECR credentialsSecretRef does not read: the commands "
            "above copy them into Secrets with imps' key names next to eatr's.",
            "eatr left a Secret in place when its label was removed; cheiron removes it.",
            "Takeover: eatr's Secrets are named after the registry host, of type "
            "kubernetes.io/dockerconfigjson, with no label, annotation or ownerReference, and "
            "eatr replaces them whole at every renewal. cheiron never overwrites a Secret it "
            "did not create: until they are gone its entries report SecretConflict. Stop "
            "eatr, delete its Secrets, and cheiron writes its own of the same names (pulls in "
            "that gap of seconds find no Secret).",
        ]
    )
    return migration


def _entry(host: str, keys: SecretFacts, migration: Migration) -> dict[str, Any]:
    missing = [eatr_key for eatr_key in KEY_MAP.values() if eatr_key not in keys.keys]
    if missing:
        migration.notes.append(
            f"Secret {keys.namespace}/{keys.name} lacks {', '.join(missing)} (eatr failed on "
            "it too)."
        )
    target_name = f"{KEYS_PREFIX}{host}"
    migration.commands.append(
        copy_command(
            f"secret {keys.name}",
            keys.namespace,
            keys.namespace,
            target_name,
            {new: f'index .data "{old}"' for new, old in KEY_MAP.items() if old in keys.keys},
            tool="eatr",
        )
    )
    return {
        # The Secret keeps eatr's name, the host, which Pods and ServiceAccounts may list.
        "name": host,
        "ecr": {
            "registry": host,
            "credentialsSecretRef": {"name": target_name, "namespace": keys.namespace},
        },
    }
