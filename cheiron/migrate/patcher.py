"""imagepullsecret-patcher's Deployment settings as a ClusterImagePullSecretManager (pure)."""

import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cheiron.migrate.common import (
    DOCKERCONFIGJSON_KEY,
    DOCKERCONFIGJSON_TYPE,
    MIGRATED_FROM_LABEL,
    Migration,
    NamespaceFacts,
    SecretFacts,
    Takeover,
    cluster_manager,
    copy_command,
    take_over,
)

IMAGE = "imagepullsecret-patcher"
EXCLUDE_ANNOTATION = "k8s.titansoft.com/imagepullsecret-patcher-exclude"
MANAGED_BY = ("app.kubernetes.io/managed-by", "imagepullsecret-patcher")
CREDENTIAL = "CONFIG_DOCKERCONFIGJSON"
# The patcher's settings as environment variables, and the flags that override them.
FLAGS = {
    "force": "CONFIG_FORCE",
    "debug": "CONFIG_DEBUG",
    "managedonly": "CONFIG_MANAGEDONLY",
    "runonce": "CONFIG_RUNONCE",
    "allserviceaccount": "CONFIG_ALLSERVICEACCOUNT",
    "dockerconfigjson": CREDENTIAL,
    "dockerconfigjsonpath": "CONFIG_DOCKERCONFIGJSONPATH",
    "secretname": "CONFIG_SECRETNAME",
    "excluded-namespaces": "CONFIG_EXCLUDED_NAMESPACES",
    "serviceaccounts": "CONFIG_SERVICEACCOUNTS",
    "loop-duration": "CONFIG_LOOP_DURATION",
}
BOOL_FLAGS = frozenset({"force", "debug", "managedonly", "runonce", "allserviceaccount"})
# Settings that are configuration, never credentials: the only values ever read.
SETTINGS = frozenset(set(FLAGS.values()) - {CREDENTIAL})
DEFAULTS = {
    "CONFIG_FORCE": "true",
    "CONFIG_SECRETNAME": "image-pull-secret",
    "CONFIG_SERVICEACCOUNTS": "default",
}

# (kind "secret" or "configMap", namespace, name) -> its keys, each with its value when it is
# one of SETTINGS (None otherwise), or None when the object does not exist.
Lookup = Callable[[str, str, str], Mapping[str, str | None] | None]


@dataclass(frozen=True)
class Credential:
    """Where the patcher's dockerconfigjson comes from."""

    # "env" or "args" (written in the Deployment), "secret" or "configMap" (a key of one),
    # or "missing".
    kind: str
    name: str = ""
    key: str = ""
    detail: str = ""


@dataclass(frozen=True)
class Patcher:
    """One patcher Deployment's effective settings."""

    namespace: str
    name: str
    container: str
    settings: Mapping[str, str]
    credential: Credential
    problems: tuple[str, ...] = field(default_factory=tuple)

    def setting(self, name: str) -> str:
        """The effective value, the patcher's default when unset."""
        return self.settings.get(name, DEFAULTS.get(name, ""))

    def flag(self, name: str) -> bool:
        """A boolean setting as Go's strconv.ParseBool reads it (the default when invalid)."""
        value = self.setting(name)
        if value in ("1", "t", "T", "TRUE", "true", "True"):
            return True
        if value in ("0", "f", "F", "FALSE", "false", "False"):
            return False
        return DEFAULTS.get(name) == "true"


def is_patcher(deployment: Mapping[str, Any]) -> bool:
    """A Deployment running the patcher's image."""
    return any(IMAGE in str(c.get("image", "")) for c in _containers(deployment))


def _containers(deployment: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    pod = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    return list(pod.get("containers") or [])


def _args(container: Mapping[str, Any]) -> dict[str, tuple[str, bool]]:
    """Settings given as flags (Go's flag syntax): name -> (value, whether a credential)."""
    found: dict[str, tuple[str, bool]] = {}
    words = [str(w) for w in (container.get("command") or [])[1:] + (container.get("args") or [])]
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        match = re.fullmatch(r"--?([a-z-]+)(=(.*))?", word, flags=re.DOTALL)
        if match is None or match[1] not in FLAGS:
            continue
        flag, value = match[1], match[3]
        if value is None:
            if flag in BOOL_FLAGS:
                value = "true"
            elif i < len(words):
                value = words[i]
                i += 1
            else:
                continue
        found[FLAGS[flag]] = (value, FLAGS[flag] == CREDENTIAL)
    return found


@dataclass
class _Found:
    """Settings and the credential's source as a container's configuration is walked."""

    settings: dict[str, str] = field(default_factory=dict)
    credential: Credential = Credential("missing")
    problems: list[str] = field(default_factory=list)


def read(deployment: Mapping[str, Any], lookup: Lookup) -> Patcher:
    """The settings the patcher's container runs with: envFrom, then env, then flags."""
    meta = deployment["metadata"]
    namespace, name = str(meta.get("namespace", "")), str(meta["name"])
    containers = _containers(deployment)
    container = next((c for c in containers if IMAGE in str(c.get("image", ""))), containers[0])
    found = _Found()
    for source in container.get("envFrom") or []:
        _env_from(source, namespace, lookup, found)
    for env in container.get("env") or []:
        _env(env, str(container.get("name", "")), namespace, lookup, found)
    for var, (value, secret) in _args(container).items():
        if secret:
            found.credential = Credential("args", detail=str(container.get("name", "")))
        else:
            found.settings[var] = value
    credential = found.credential
    if credential.kind == "missing" and (path := found.settings.get("CONFIG_DOCKERCONFIGJSONPATH")):
        credential = _mounted(deployment, container, path)
    return Patcher(
        namespace,
        name,
        str(container.get("name", "")),
        found.settings,
        credential,
        tuple(found.problems),
    )


def _env_from(source: Mapping[str, Any], namespace: str, lookup: Lookup, found: _Found) -> None:
    """One envFrom item: every key of a Secret or ConfigMap, prefixed."""
    prefix = str(source.get("prefix") or "")
    for kind in ("secret", "configMap"):
        ref = source.get(f"{kind}Ref")
        if ref is None:
            continue
        keys = lookup(kind, namespace, str(ref["name"]))
        if keys is None:
            found.problems.append(f"envFrom {kind} {namespace}/{ref['name']} does not exist")
            continue
        for key, value in keys.items():
            var = prefix + key
            if var == CREDENTIAL:
                found.credential = Credential(kind, str(ref["name"]), key)
            elif var in SETTINGS and value is not None:
                found.settings[var] = value


def _env(
    env: Mapping[str, Any], container: str, namespace: str, lookup: Lookup, found: _Found
) -> None:
    """One env item: a value written in the Deployment, or a key of a Secret or ConfigMap."""
    var = str(env.get("name", ""))
    if var not in SETTINGS and var != CREDENTIAL:
        return
    if "valueFrom" not in env:
        if var == CREDENTIAL:
            found.credential = Credential("env", detail=container)
        else:
            found.settings[var] = str(env.get("value") or "")
        return
    for kind in ("secret", "configMap"):
        ref = (env.get("valueFrom") or {}).get(f"{kind}KeyRef")
        if ref is None:
            continue
        if var == CREDENTIAL:
            found.credential = Credential(kind, str(ref["name"]), str(ref["key"]))
            continue
        value = (lookup(kind, namespace, str(ref["name"])) or {}).get(str(ref["key"]))
        if value is None:
            found.problems.append(f"{var} refers to {kind} {ref['name']} key {ref['key']}: none")
        else:
            found.settings[var] = value


def _mounted(deployment: Mapping[str, Any], container: Mapping[str, Any], path: str) -> Credential:
    """The Secret key a file path of the container reads, through its volume mounts."""
    pod = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    volumes = {str(v.get("name")): v for v in pod.get("volumes") or []}
    for mount in container.get("volumeMounts") or []:
        mount_path = str(mount.get("mountPath", "")).rstrip("/")
        sub_path = str(mount.get("subPath") or "")
        if sub_path and path == mount_path:
            relative = sub_path
        elif not sub_path and path.startswith(f"{mount_path}/"):
            relative = path[len(mount_path) + 1 :]
        else:
            continue
        volume = volumes.get(str(mount.get("name")), {})
        secret = volume.get("secret")
        if secret is None:
            return Credential("missing", detail=f"{path} is not in a Secret volume")
        items = secret.get("items") or []
        key = (
            next((str(i["key"]) for i in items if i.get("path") == relative), None)
            if items
            else relative
        )
        if key is None or "/" in key:
            return Credential(
                "missing", detail=f"{path} is no key of Secret {secret['secretName']}"
            )
        return Credential("secret", str(secret["secretName"]), key)
    return Credential("missing", detail=f"{path} is not in a mounted volume")


def _takeover(patchers: list[Patcher]) -> Takeover:
    deployments = ", ".join(f"{p.namespace}/{p.name}" for p in patchers)
    return Takeover(
        "the patcher",
        f"scale its Deployment to 0 replicas ({deployments}). With CONFIG_FORCE it deletes "
        "and recreates every Secret of its name whose content differs, which would undo the "
        "takeover.",
        "Delete the patcher's Deployment, its ServiceAccount and RBAC.",
        "Delete the Secrets it wrote: nothing owns them, nothing else deletes them.",
    )


def migrate(
    patchers: Iterable[Patcher],
    namespaces: Iterable[NamespaceFacts],
    sources: Mapping[tuple[str, str], SecretFacts | None],
    written: Iterable[SecretFacts] = (),
    *,
    adopt: bool = False,
) -> Migration:
    """One ClusterImagePullSecretManager per patcher Deployment.

    `written`: the Secrets of every namespace named as a patcher's CONFIG_SECRETNAME, those
    the managers may take over.
    """
    patchers = sorted(patchers, key=lambda p: (p.namespace, p.name))
    namespaces = list(namespaces)
    migration = Migration("patcher", adopt=adopt, takeover=_takeover(patchers))
    annotated = sorted(
        n.name for n in namespaces if n.annotations.get(EXCLUDE_ANNOTATION) == "true"
    )
    # A namespace that opted out of cheiron, or is being deleted, gets nothing from a manager.
    ignored = {n.name for n in namespaces if not n.served}
    found = list(written)
    for patcher in patchers:
        _one(patcher, annotated, sources, migration)
        _take_over(patcher, ignored, found, migration)
    if migration.manifests:
        migration.notes.append(
            f"The patcher's Secrets carry the annotation (not a label) {MANAGED_BY[0]}: "
            f"{MANAGED_BY[1]} and no ownerReference; the takeover above concerns those of "
            "its CONFIG_SECRETNAME in namespaces the manager selects. The ServiceAccounts keep "
            "the name they list. cheiron never overwrites a Secret it did not create unless "
            "it is labelled for adoption."
        )
    return migration


def _take_over(
    patcher: Patcher, ignored: set[str], found: list[SecretFacts], migration: Migration
) -> None:
    """The patcher's Secrets its manager writes: its annotation, its CONFIG_SECRETNAME."""
    manifest = next(
        (m for m in migration.manifests if m.body["metadata"]["name"] == patcher.name), None
    )
    if manifest is None or not manifest.body["spec"].get("secrets"):
        return
    spec = manifest.body["spec"]
    # kube-system: cheiron selects it by name only, and this manager names none.
    skipped = {*spec.get("excludeNamespaces", ()), *ignored, "kube-system"}
    name = patcher.setting("CONFIG_SECRETNAME")
    mine = [
        s
        for s in found
        if s.name == name
        and s.annotations.get(MANAGED_BY[0]) == MANAGED_BY[1]
        and s.namespace not in skipped
    ]
    take_over(migration, patcher.name, mine)


def _one(
    patcher: Patcher,
    annotated: list[str],
    sources: Mapping[tuple[str, str], SecretFacts | None],
    migration: Migration,
) -> None:
    what = f"Deployment {patcher.namespace}/{patcher.name}"
    migration.notes.extend(f"{what}: {p}" for p in patcher.problems)
    secret_name = patcher.setting("CONFIG_SECRETNAME")
    source = _source(patcher, sources, migration)
    excluded = {n for n in patcher.setting("CONFIG_EXCLUDED_NAMESPACES").split(",") if n}
    excluded.update(annotated)
    spec: dict[str, Any] = {"excludeNamespaces": sorted(excluded)}
    if source is not None:
        spec["secrets"] = [
            {"name": secret_name, "existingSecretRef": {"name": source[1], "namespace": source[0]}}
        ]
    if not patcher.flag("CONFIG_ALLSERVICEACCOUNT"):
        accounts = [a for a in patcher.setting("CONFIG_SERVICEACCOUNTS").split(",") if a]
        spec["serviceAccountSelector"] = {"names": accounts}
    if annotated:
        migration.notes.append(
            f"{what}: namespaces annotated {EXCLUDE_ANNOTATION}=true ({', '.join(annotated)}) "
            "are in excludeNamespaces; for namespaces annotated later, annotate them "
            "cheiron.anny.co/ignore=true instead."
        )
    if "kube-system" not in excluded:
        migration.notes.append(
            f"{what}: the patcher wrote its Secret in kube-system too; cheiron selects "
            "kube-system only when target.namespaces.names lists it."
        )
    if patcher.flag("CONFIG_FORCE"):
        migration.notes.append(
            f"{what}: CONFIG_FORCE overwrote any Secret named {secret_name}, a user's too; "
            "cheiron leaves a Secret it did not create alone and reports SecretConflict."
        )
    for var in ("CONFIG_RUNONCE", "CONFIG_LOOP_DURATION"):
        if var in patcher.settings:
            migration.notes.append(
                f"{what}: {var} has no counterpart: cheiron reacts to changes as they happen."
            )
    cluster_manager(
        patcher.name,
        spec,
        [f"From imagepullsecret-patcher {what}."],
        migration,
    )


def _source(
    patcher: Patcher,
    sources: Mapping[tuple[str, str], SecretFacts | None],
    migration: Migration,
) -> tuple[str, str] | None:
    """The dockerconfigjson Secret (namespace, name) for existingSecretRef, or None.

    Where the credentials sit anywhere but in such a Secret, a command to make one is added.
    """
    what = f"Deployment {patcher.namespace}/{patcher.name}"
    cred, ns = patcher.credential, patcher.namespace
    copy_name = f"{patcher.setting('CONFIG_SECRETNAME')}-source"[:253]
    command: str | None = None
    if cred.kind == "missing":
        detail = cred.detail or f"neither {CREDENTIAL} nor CONFIG_DOCKERCONFIGJSONPATH is set"
        migration.notes.append(
            f"{what}: no dockerconfigjson found ({detail}); the manager has no entry: add one."
        )
        return None
    if cred.kind == "args":
        migration.notes.append(
            f"{what}: the credentials are a command-line flag of container {cred.detail}; "
            f"put them in a kubernetes.io/dockerconfigjson Secret {ns}/{copy_name} by hand."
        )
    elif cred.kind == "env":
        jsonpath = (
            f'{{.spec.template.spec.containers[?(@.name=="{cred.detail}")]'
            f'.env[?(@.name=="{CREDENTIAL}")].value}}'
        )
        command = _stdin_command(f"deployment {patcher.name}", ns, jsonpath, copy_name)
        migration.notes.append(
            f"{what}: the credentials are written in the Deployment's environment; once "
            "cheiron serves them, delete the Deployment so they live only in a Secret."
        )
    elif cred.kind == "configMap":
        jsonpath = "{.data." + cred.key.replace(".", "\\.") + "}"
        command = _stdin_command(f"configmap {cred.name}", ns, jsonpath, copy_name)
    elif (facts := sources.get((ns, cred.name))) is None:
        migration.notes.append(f"{what}: Secret {ns}/{cred.name} does not exist.")
        copy_name = cred.name
    elif facts.type == DOCKERCONFIGJSON_TYPE and cred.key == DOCKERCONFIGJSON_KEY:
        copy_name = cred.name
    else:
        command = copy_command(
            f"secret {cred.name}",
            ns,
            ns,
            copy_name,
            {DOCKERCONFIGJSON_KEY: f'index .data "{cred.key}"'},
            tool="patcher",
            secret_type=DOCKERCONFIGJSON_TYPE,
        )
    if command is not None:
        migration.commands.append(command)
    return (ns, copy_name)


def _stdin_command(source: str, namespace: str, jsonpath: str, target: str) -> str:
    """A pipeline that writes one field of an object as a new dockerconfigjson Secret."""
    create = (
        f"kubectl create secret generic {target} -n {namespace} "
        f"--type={DOCKERCONFIGJSON_TYPE} --from-file={DOCKERCONFIGJSON_KEY}=/dev/stdin "
        f"--dry-run=client -o json | kubectl label --local -f - -o json "
        f"{MIGRATED_FROM_LABEL}=patcher | kubectl create -f -"
    )
    return f"kubectl get {source} -n {namespace} -o jsonpath={shlex.quote(jsonpath)} | {create}"
