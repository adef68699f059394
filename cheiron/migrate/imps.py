"""imps' ImagePullSecrets as ClusterImagePullSecretManagers writing one merged Secret (pure)."""

import re
from collections.abc import Iterable, Mapping
from typing import Any

from cheiron.migrate.common import (
    DOCKERCONFIGJSON_KEY,
    DOCKERCONFIGJSON_TYPE,
    Migration,
    SecretFacts,
    Takeover,
    cluster_manager,
    take_over,
)

GROUP = "images.banzaicloud.io"
VERSION = "v1alpha1"
PLURAL = "imagepullsecrets"
ECR_TYPE = "banzaicloud.io/aws-ecr-login-config"
OWNER_LABEL = f"{GROUP}/owner-uid"
# Keys imps' ECR provider requires; roleArn is optional.
ECR_KEYS = ("accountID", "region", "accessKeyID", "secretKey")
ROLE_ARN_KEY = "roleArn"
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$")

SecretKey = tuple[str, str]


def source_refs(objects: Iterable[Mapping[str, Any]]) -> list[SecretKey]:
    """The (namespace, name) of every source Secret the ImagePullSecrets name."""
    refs: list[SecretKey] = []
    for obj in objects:
        for cred in ((obj.get("spec") or {}).get("registry") or {}).get("credentials") or []:
            key = (str(cred.get("namespace", "")), str(cred.get("name", "")))
            if key not in refs:
                refs.append(key)
    return refs


TAKEOVER = Takeover(
    "imps",
    "scale its controller's Deployment to 0 replicas. On every reconcile it writes its "
    "Secrets whole, its label and ownerReference included, and would undo the takeover.",
    "Delete the ImagePullSecrets and uninstall imps (its Deployment and CRD); the garbage "
    "collector deletes the Secrets they still own.",
)


def migrate(
    objects: Iterable[Mapping[str, Any]],
    sources: Mapping[SecretKey, SecretFacts | None],
    written: Iterable[SecretFacts] = (),
    *,
    adopt: bool = False,
) -> Migration:
    """One ClusterImagePullSecretManager per ImagePullSecret.

    `written`: Secrets carrying imps' owner label, those its managers may take over.
    """
    migration = Migration("imps", adopt=adopt, takeover=TAKEOVER)
    written = list(written)
    for obj in sorted(objects, key=lambda o: str(o["metadata"]["name"])):
        _one(obj, sources, written, migration)
    if migration.manifests:
        migration.notes.extend(
            [
                "imps merged its sources in Go map order, so a registry given by two sources "
                "had no defined winner; cheiron's merged Secret takes the entry listed first.",
                "cheiron also lists the Secret in the imagePullSecrets of the ServiceAccounts "
                "of each target namespace (imps only wrote the Secret); narrow this with "
                "spec.serviceAccountSelector.",
                f"imps' Secrets carry the label {OWNER_LABEL} (the ImagePullSecret's UID) and "
                "an ownerReference to it; the takeover above concerns those of the merged "
                "Secret's name in namespaces the manager may select. cheiron never "
                "overwrites a Secret it did not create unless it is labelled for adoption.",
            ]
        )
    return migration


def _one(
    obj: Mapping[str, Any],
    sources: Mapping[SecretKey, SecretFacts | None],
    written: list[SecretFacts],
    migration: Migration,
) -> None:
    name = str(obj["metadata"]["name"])
    spec = obj.get("spec") or {}
    target = spec.get("target") or {}
    entries = _entries(name, spec, sources, migration)
    ns_rules = target.get("namespaces") or {}
    pod_rules = target.get("namespacesWithPods") or {}
    cheiron_target: dict[str, Any] = {
        "secret": {
            k: v
            for k, v in (target.get("secret") or {}).items()
            if k in ("name", "labels", "annotations")
        },
        # Always given: without rules imps selects no namespace, cheiron every one.
        "namespaces": {
            "names": list(ns_rules.get("names") or []),
            "labels": list(ns_rules.get("labels") or []),
            "annotations": _annotations(name, "namespaces", ns_rules, migration),
        },
    }
    pod_labels = list(pod_rules.get("labels") or [])
    pod_annotations = _annotations(name, "namespacesWithPods", pod_rules, migration)
    if pod_labels or pod_annotations:
        cheiron_target["namespacesWithPods"] = {
            "labels": pod_labels,
            "annotations": pod_annotations,
        }
        migration.notes.append(
            f"{name}: namespacesWithPods lets whoever creates Pods opt a namespace in; "
            "cheiron's namespacesWithPods.namespaceSelector can limit it to namespaces the "
            "cluster admin labels."
        )
    managed = [str(n) for n in (obj.get("status") or {}).get("managedNamespaces") or []]
    if "kube-system" in managed and "kube-system" not in cheiron_target["namespaces"]["names"]:
        migration.notes.append(
            f"{name}: imps wrote its Secret in kube-system; cheiron selects kube-system only "
            "when target.namespaces.names lists it (add it if system Pods need the Secret)."
        )
    manifest = cluster_manager(
        name,
        {"secrets": entries, "target": cheiron_target},
        [f"From imps ImagePullSecret {name}."],
        migration,
    )
    if manifest is not None:
        _takeover(obj, manifest.body["spec"], written, migration)


def _takeover(
    obj: Mapping[str, Any],
    spec: Mapping[str, Any],
    written: list[SecretFacts],
    migration: Migration,
) -> None:
    """The Secrets of imps the manager writes: its owner label, the merged Secret's name.

    One kubectl command selects them all (in every namespace, as imps wrote them), with the
    apiserver's own selectors: the UID label, the name, the type, and no kube-system unless
    the manager names it (cheiron selects kube-system by name only).
    """
    uid = str(obj["metadata"].get("uid") or "")
    target = spec.get("target") or {}
    secret_name = str((target.get("secret") or {}).get("name") or "")
    with_system = "kube-system" in ((target.get("namespaces") or {}).get("names") or [])
    if not uid or not secret_name:
        return
    mine = [
        s
        for s in written
        if s.labels.get(OWNER_LABEL) == uid
        and s.name == secret_name
        and (with_system or s.namespace != "kube-system")
    ]
    fields = f"metadata.name={secret_name},type={DOCKERCONFIGJSON_TYPE}"
    if not with_system:
        fields += ",metadata.namespace!=kube-system"
    selection = f"-A -l {OWNER_LABEL}={uid} --field-selector {fields}"
    take_over(migration, str(obj["metadata"]["name"]), mine, selection)


def _annotations(
    name: str, where: str, rules: Mapping[str, Any], migration: Migration
) -> list[dict[str, Any]]:
    """The annotation selectors of imps that cheiron can express (matchAnnotations only)."""
    kept = []
    for selector in rules.get("annotations") or []:
        if selector.get("matchExpressions"):
            # Dropping only the expressions would widen the selector: drop it whole.
            migration.notes.append(
                f"{name}: an annotation selector of target.{where} uses matchExpressions, "
                "which cheiron's annotation selectors do not have; it was left out (the "
                "namespaces only it selected get no Secret). Label the namespaces and select "
                "them by label instead."
            )
            continue
        kept.append({"matchAnnotations": dict(selector.get("matchAnnotations") or {})})
    return kept


def _entries(
    name: str,
    spec: Mapping[str, Any],
    sources: Mapping[SecretKey, SecretFacts | None],
    migration: Migration,
) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    credentials = (spec.get("registry") or {}).get("credentials") or []
    names = [str(c.get("name", "")) for c in credentials]
    for cred in credentials:
        ns, secret_name = str(cred.get("namespace", "")), str(cred.get("name", ""))
        # Entry names must be unique; sources of one name in two namespaces are told apart.
        entry_name = secret_name if names.count(secret_name) == 1 else f"{ns}.{secret_name}"
        facts = sources.get((ns, secret_name))
        where = f"{name}: source Secret {ns}/{secret_name}"
        if facts is None:
            migration.notes.append(
                f"{where} does not exist; kept as existingSecretRef, the entry reports "
                "SecretNotFound until it does."
            )
            entries.append(
                {"name": entry_name, "existingSecretRef": {"name": secret_name, "namespace": ns}}
            )
        elif facts.type == DOCKERCONFIGJSON_TYPE:
            if DOCKERCONFIGJSON_KEY not in facts.keys:
                migration.notes.append(
                    f"{where} has no {DOCKERCONFIGJSON_KEY} key (imps failed too)."
                )
            entries.append(
                {"name": entry_name, "existingSecretRef": {"name": secret_name, "namespace": ns}}
            )
        elif facts.type == ECR_TYPE:
            entries.append(_ecr_entry(entry_name, facts, where, migration))
        else:
            migration.notes.append(
                f"{where} has type {facts.type}, which imps did not read either; left out."
            )
    return entries


def _ecr_entry(
    entry_name: str, facts: SecretFacts, where: str, migration: Migration
) -> dict[str, Any]:
    """An ECR entry reading the same Secret: cheiron reads imps' key names as they are."""
    missing = [k for k in ECR_KEYS if k not in facts.keys]
    if missing:
        migration.notes.append(f"{where} lacks {', '.join(missing)} (imps failed on it too).")
    ecr: dict[str, Any] = {
        "credentialsSecretRef": {"name": facts.name, "namespace": facts.namespace}
    }
    role = facts.revealed.get(ROLE_ARN_KEY)
    if role is not None and ROLE_ARN.match(role):
        # An ARN names a role, it grants nothing by itself; cheiron wants it in the spec.
        ecr["roleArn"] = role
    elif role is not None:
        migration.notes.append(
            f"{where}: its {ROLE_ARN_KEY} key is not an IAM role ARN; left out (set "
            "ecr.roleArn by hand)."
        )
    return {"name": entry_name, "ecr": ecr}
