"""eatr's labelled namespaces and AWS key Secrets as a ClusterImagePullSecretManager (pure)."""

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from cheiron.migrate.common import (
    Manifest,
    Migration,
    NamespaceFacts,
    SecretFacts,
    Takeover,
    cluster_manager,
    copy_command,
    take_over,
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


def places(namespaces: Iterable[NamespaceFacts]) -> list[tuple[str, str]]:
    """Where eatr writes (namespace, name): each labelled namespace, a Secret per host."""
    return [(ns, host) for host, names in labelled(namespaces).items() for ns in names]


def _takeover(host_namespace: str, prefix: str) -> Takeover:
    return Takeover(
        "eatr",
        f"scale its Deployment to 0 replicas (eatr in {host_namespace}, as its manifest names "
        "it). At every renewal it replaces its Secrets whole, which would drop what cheiron "
        "wrote.",
        f"Uninstall eatr (its Deployment, ServiceAccount and RBAC) and delete its {prefix}-* "
        f"Secrets in {host_namespace} once the commands above copied them.",
        "Delete the Secrets eatr wrote: nothing owns them, nothing else deletes them.",
    )


def migrate(
    namespaces: Iterable[NamespaceFacts],
    credentials: Iterable[SecretFacts],
    *,
    host_namespace: str = HOST_NAMESPACE,
    prefix: str = SECRET_PREFIX,
    targeting: Targeting = "labels",
    written: Iterable[SecretFacts] = (),
    adopt: bool = False,
) -> Migration:
    """ECR entries for every registry eatr has keys for, targeted by eatr's labels.

    `written`: the Secrets found at `places`, those the managers may take over.
    """
    migration = Migration("eatr", adopt=adopt, takeover=_takeover(host_namespace, prefix))
    namespaces = list(namespaces)
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
    managers: dict[str, Manifest | None] = {}
    if targeting == "labels":
        manifest = cluster_manager(
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
        managers = dict.fromkeys(entries, manifest)
    else:
        for host, entry in entries.items():
            managers[host] = cluster_manager(
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
            "eatr's Secrets have no label, annotation or ownerReference: the takeover above "
            'concerns those named after a registry host, in a namespace labelled `<host>: "true"`, '
            "whose dockerconfigjson names that host. cheiron never overwrites a Secret it did "
            "not create unless it is labelled for adoption.",
        ]
    )
    _take_over(namespaces, written, managers, migration)
    return migration


def _take_over(
    namespaces: list[NamespaceFacts],
    written: Iterable[SecretFacts],
    managers: Mapping[str, Manifest | None],
    migration: Migration,
) -> None:
    """The Secrets of eatr each manager writes: eatr has no marks, so name, label, content.

    Not in kube-system, nor in a namespace that opted out or is being deleted: no manager
    writes there.
    """
    wanted = labelled(namespaces)
    ignored = {n.name for n in namespaces if not n.served} | {"kube-system"}
    found = list(written)
    for host, manifest in managers.items():
        if manifest is None:
            continue
        mine = [
            s
            for s in found
            if s.name == host
            and s.namespace in wanted.get(host, [])
            and s.namespace not in ignored
            and host in s.ecr_hosts
        ]
        take_over(migration, str(manifest.body["metadata"]["name"]), mine)


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
