"""What every migration shares: Secrets seen without their values, manifests, output (pure)."""

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from cheiron import API_GROUP, API_VERSION
from cheiron.api.models import ClusterImagePullSecretManagerSpec, ImagePullSecretManagerSpec
from cheiron.api.observed import DOCKERCONFIGJSON_KEY, DOCKERCONFIGJSON_TYPE

__all__ = [
    "DOCKERCONFIGJSON_KEY",
    "DOCKERCONFIGJSON_TYPE",
    "MIGRATED_FROM_LABEL",
    "Manifest",
    "Migration",
    "NamespaceFacts",
    "SecretFacts",
    "cluster_manager",
    "copy_command",
    "namespaced_manager",
]

# Put on Secrets the printed commands create, so that they can be found (and removed) later.
MIGRATED_FROM_LABEL = f"{API_GROUP}/migrated-from"

ECR_HOST = re.compile(r"^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")


@dataclass(frozen=True)
class SecretFacts:
    """A Secret as a migration may see it: its shape, never its values.

    `revealed` holds only the keys the reader was told were configuration (a role ARN, a
    setting of the patcher), and `registries` the hosts a dockerconfigjson names.
    """

    namespace: str
    name: str
    type: str
    keys: frozenset[str]
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    owners: tuple[str, ...] = ()
    revealed: Mapping[str, str] = field(default_factory=dict)
    registries: tuple[str, ...] = ()

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> "SecretFacts":
        """From the plain dict cheiron.k8s.peers returns."""
        return cls(
            namespace=str(data["namespace"]),
            name=str(data["name"]),
            type=str(data.get("type") or "Opaque"),
            keys=frozenset(data.get("keys") or ()),
            labels=dict(data.get("labels") or {}),
            annotations=dict(data.get("annotations") or {}),
            owners=tuple(data.get("owners") or ()),
            revealed=dict(data.get("revealed") or {}),
            registries=tuple(data.get("registries") or ()),
        )

    @property
    def ecr_hosts(self) -> list[str]:
        """The ECR registry hosts its dockerconfigjson names, scheme and path dropped."""
        hosts = (re.sub(r"^https?://", "", r).split("/")[0] for r in self.registries)
        return sorted({h for h in hosts if ECR_HOST.match(h)})


@dataclass(frozen=True)
class NamespaceFacts:
    """A namespace's name, labels and annotations."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> "NamespaceFacts":
        """From a namespace as the API returns it (sanitised)."""
        meta = data.get("metadata") or {}
        return cls(
            str(meta["name"]), dict(meta.get("labels") or {}), dict(meta.get("annotations") or {})
        )


@dataclass(frozen=True)
class Manifest:
    """One object to apply, with comments printed above it."""

    body: dict[str, Any]
    comments: tuple[str, ...] = ()


@dataclass
class Migration:
    """What `cheiron migrate` prints: commands to run first, manifests, and what is not carried."""

    tool: str
    manifests: list[Manifest] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def render(self) -> str:
        """A YAML stream `kubectl apply -f -` takes; everything else is in comments."""
        lines = [f"# cheiron migrate --from {self.tool}"]
        if not self.manifests:
            lines.append(f"# Nothing of {self.tool} was found to migrate.")
        if self.commands:
            lines.append("#")
            lines.append("# Run first: each command copies keys into a new Secret through a pipe,")
            lines.append("# without showing them (kubectl create, not apply: apply would keep a")
            lines.append("# copy of the values in an annotation).")
            lines.extend(f"#   {c}" for c in self.commands)
        if self.notes:
            lines.append("#")
            lines.append("# Not carried over, or to check:")
            for note in self.notes:
                lines.extend(_wrap(note))
        out = "\n".join(lines) + "\n"
        for manifest in self.manifests:
            out += "---\n"
            out += "".join(f"# {c}\n" for c in manifest.comments)
            out += yaml.safe_dump(manifest.body, sort_keys=False, default_flow_style=False)
        return out


def _wrap(note: str, width: int = 96) -> list[str]:
    """A note as comment lines: a dash on the first, indented continuation lines."""
    words, lines, line = note.split(), [], "# -"
    for word in words:
        if len(line) + 1 + len(word) > width and line not in ("# -", "#  "):
            lines.append(line)
            line = "#  "
        line += " " + word
    lines.append(line)
    return lines


def _validation_message(error: ValidationError) -> str:
    # hide_input_in_errors on the models: the messages carry no values.
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'spec'}: {e['msg']}" for e in error.errors()
    )


def _manager(
    namespace: str | None,
    name: str,
    spec: Mapping[str, Any],
    comments: Iterable[str],
    migration: Migration,
) -> Manifest | None:
    """A manager of the kind `namespace` implies, validated by its model; None if invalid."""
    model_class = (
        ClusterImagePullSecretManagerSpec if namespace is None else ImagePullSecretManagerSpec
    )
    kind = model_class.__name__.removesuffix("Spec")
    try:
        model = model_class.model_validate(spec)
    except ValidationError as e:
        where = name if namespace is None else f"{namespace}/{name}"
        migration.notes.append(
            f"{kind} {where} would not be valid, left out: {_validation_message(e)}"
        )
        return None
    metadata = {"name": name} if namespace is None else {"name": name, "namespace": namespace}
    body = {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": kind,
        "metadata": metadata,
        "spec": model.wire(),
    }
    manifest = Manifest(body, tuple(comments))
    migration.manifests.append(manifest)
    return manifest


def cluster_manager(
    name: str, spec: Mapping[str, Any], comments: Iterable[str], migration: Migration
) -> Manifest | None:
    """A ClusterImagePullSecretManager, validated by its model; None (and a note) if invalid."""
    return _manager(None, name, spec, comments, migration)


def namespaced_manager(
    namespace: str,
    name: str,
    spec: Mapping[str, Any],
    comments: Iterable[str],
    migration: Migration,
) -> Manifest | None:
    """An ImagePullSecretManager, validated by its model; None (and a note) if invalid."""
    return _manager(namespace, name, spec, comments, migration)


def _quote(text: str) -> str:
    """Single-quoted for a POSIX shell."""
    return "'" + text.replace("'", "'\"'\"'") + "'"


def copy_command(
    source: str,
    source_namespace: str | None,
    target_namespace: str,
    target_name: str,
    data: Mapping[str, str],
    *,
    tool: str,
    string_data: Mapping[str, str] | None = None,
    secret_type: str = "Opaque",  # noqa: S107 - a Secret type, not a password
) -> str:
    """A `kubectl get | kubectl create` pipeline that writes a Secret from another object.

    `data` maps each new key to a Go template expression giving a base64 value already (a
    Secret's `.data`, or a field stored base64-encoded): the values pass through the pipe
    and never appear on the screen, in the shell history or in a process's arguments.
    """
    template = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": secret_type,
        "metadata": {
            "name": target_name,
            "namespace": target_namespace,
            "labels": {MIGRATED_FROM_LABEL: tool},
        },
        "data": {key: f"@@{expression}@@" for key, expression in data.items()},
    }
    if string_data:
        template["stringData"] = dict(string_data)
    text = json.dumps(template, separators=(",", ":"))
    # The expressions go in unquoted by json.dumps: they contain quotes of their own.
    for expression in data.values():
        text = text.replace(f"@@{json.dumps(expression)[1:-1]}@@", "{{" + expression + "}}")
    scope = f" -n {source_namespace}" if source_namespace else ""
    return f"kubectl get {source}{scope} -o go-template={_quote(text)} | kubectl create -f -"
