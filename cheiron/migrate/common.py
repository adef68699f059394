"""What every migration shares: Secrets seen without their values, manifests, output (pure)."""

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from cheiron import API_GROUP, API_VERSION
from cheiron.api.meta import ADOPT_LABEL, OWNER_UID_LABEL, is_ignored
from cheiron.api.models import (
    ClusterImagePullSecretManagerSpec,
    ImagePullSecretManagerSpec,
    validation_message,
)
from cheiron.api.observed import DOCKERCONFIGJSON_KEY, DOCKERCONFIGJSON_TYPE

__all__ = [
    "ADOPT_LABEL",
    "DOCKERCONFIGJSON_KEY",
    "DOCKERCONFIGJSON_TYPE",
    "MIGRATED_FROM_LABEL",
    "Manifest",
    "Migration",
    "NamespaceFacts",
    "SecretFacts",
    "Takeover",
    "cluster_manager",
    "copy_command",
    "namespaced_manager",
    "take_over",
]

# Put on Secrets the printed commands create, so that they can be found (and removed) later.
MIGRATED_FROM_LABEL = f"{API_GROUP}/migrated-from"

# What a label value may be: the adopt label carries a manager's name.
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
# Names listed in a note before "and N more": a patcher wrote one Secret per namespace.
NAMES_SHOWN = 10

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
    owner_uids: tuple[str, ...] = ()
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
            owner_uids=tuple(data.get("owner_uids") or ()),
            revealed=dict(data.get("revealed") or {}),
            registries=tuple(data.get("registries") or ()),
        )

    @property
    def where(self) -> str:
        """namespace/name."""
        return f"{self.namespace}/{self.name}"

    @property
    def ecr_hosts(self) -> list[str]:
        """The ECR registry hosts its dockerconfigjson names, scheme and path dropped."""
        hosts = (re.sub(r"^https?://", "", r).split("/")[0] for r in self.registries)
        return sorted({h for h in hosts if ECR_HOST.match(h)})


@dataclass(frozen=True)
class NamespaceFacts:
    """A namespace's name, labels and annotations, and whether it is being deleted."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    terminating: bool = False

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> "NamespaceFacts":
        """From a namespace as the API returns it (sanitised)."""
        meta = data.get("metadata") or {}
        return cls(
            str(meta["name"]),
            dict(meta.get("labels") or {}),
            dict(meta.get("annotations") or {}),
            (data.get("status") or {}).get("phase") == "Terminating",
        )

    @property
    def served(self) -> bool:
        """Whether a manager may write in it: not opted out of cheiron, not being deleted."""
        return not self.terminating and not is_ignored(self.annotations)


@dataclass(frozen=True)
class Manifest:
    """One object to apply, with comments printed above it."""

    body: dict[str, Any]
    comments: tuple[str, ...] = ()


@dataclass(frozen=True)
class Takeover:
    """The old tool's side of a takeover: how it is stopped first and removed last."""

    # The tool as the steps name it ("imps", "the patcher").
    name: str
    # How to stop it, and why it must stop before cheiron takes its Secrets over.
    stop: str
    # What to delete and uninstall once the managers are Ready.
    remove: str
    # Without adoption: how the Secrets it wrote go, when removing it does not delete them.
    leftovers: str = ""


@dataclass
class Migration:
    """What `cheiron migrate` prints: commands to run first, manifests, and what is not carried."""

    tool: str
    manifests: list[Manifest] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # --adopt: print the commands that label the old tool's Secrets for the managers.
    adopt: bool = False
    takeover: Takeover | None = None
    # The old tool's pull Secrets the managers write under the same names (see `adopt`), and
    # with --adopt the commands that label them.
    taken: list[SecretFacts] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The tool as the output names it."""
        return self.takeover.name if self.takeover is not None else self.tool

    def render(self) -> str:
        """A YAML stream `kubectl apply -f -` takes; everything else is in comments."""
        lines = [f"# cheiron migrate --from {self.tool}{' --adopt' if self.adopt else ''}"]
        if not self.manifests:
            lines.append(f"# Nothing of {self.tool} was found to migrate.")
        if self.commands:
            lines.append("#")
            lines.append("# Run first: each command copies keys into a new Secret through a pipe,")
            lines.append("# without showing them (kubectl create, not apply: apply would keep a")
            lines.append("# copy of the values in an annotation).")
            lines.extend(f"#   {c}" for c in self.commands)
        if self.manifests and self.takeover is not None:
            lines.append("#")
            lines.append("# Takeover, in this order:")
            for number, (step, commands) in enumerate(self._steps(self.takeover), 1):
                # Continuation lines indented by four: "#   kubectl" marks a command only.
                lines.extend(_wrap(step, f"# {number}.", "#    "))
                lines.extend(f"#   {c}" for c in commands)
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

    def _steps(self, takeover: Takeover) -> list[tuple[str, list[str]]]:
        """The takeover's steps, each with the commands printed under it."""
        kinds = sorted({str(m.body["kind"]).lower() + "s" for m in self.manifests})
        every = " -A" if "imagepullsecretmanagers" in kinds else ""
        check = f"Check that the managers are Ready: kubectl get {','.join(kinds)}{every}."
        stop: tuple[str, list[str]] = (f"Stop {takeover.name} first: {takeover.stop}", [])
        apply = "Apply this file (kubectl apply -f)."
        if not self.adopt:
            conflicts = (
                f" The Secrets {takeover.name} wrote that the managers write under the same "
                f"names ({_names(self.taken)}) are reported as SecretConflict and left "
                f"untouched until they are removed, or labelled {ADOPT_LABEL}=<manager>: "
                f"`cheiron migrate --from {self.tool} --adopt` prints the commands that label "
                "them, and the managers then take them over in place."
                if self.taken
                else ""
            )
            return [
                stop,
                (apply + conflicts, []),
                (
                    f"{takeover.remove}{' ' + takeover.leftovers if takeover.leftovers else ''} "
                    "Once the Secrets it wrote are gone, cheiron writes its own of the same "
                    "names (Pods that pull in that gap find none).",
                    [],
                ),
                (check, []),
            ]
        label = (
            (
                f"Label the Secrets {takeover.name} wrote that the managers below write under "
                "the same names, each with its manager's name:",
                self.labels,
            )
            if self.labels
            else (
                f"Label nothing: no pull Secret {takeover.name} wrote is one the managers below "
                "write under the same name.",
                [],
            )
        )
        return [
            stop,
            label,
            (
                f"{apply} Each manager takes the Secrets labelled with its name over in place: "
                "the same names, so Pods keep pulling; their data rewritten, cheiron's labels "
                "added, the adopt label and every ownerReference removed, an Event "
                "SecretAdopted.",
                [],
            ),
            (check, []),
            (
                f"{takeover.remove} The adopted Secrets have no ownerReference left, so the "
                "garbage collector leaves them alone.",
                [],
            ),
        ]


def _names(secrets: Iterable[SecretFacts]) -> str:
    """namespace/name of each, the first few only."""
    names = sorted(s.where for s in secrets)
    shown = ", ".join(names[:NAMES_SHOWN])
    return shown + (f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else "")


def take_over(
    migration: Migration,
    manager: str,
    secrets: Iterable[SecretFacts],
    selection: str | None = None,
) -> None:
    """Record the old tool's Secrets that `manager` writes under the same names.

    Only pull Secrets can be adopted (a Secret's type cannot change in place): the others are
    named in a note. With --adopt, a command labels each with the manager's name; or one
    command labels them all, when `selection` (kubectl's flags selecting exactly them) is given.
    """
    # One that a cheiron manager owns already is not the old tool's any more.
    found = sorted((s for s in secrets if OWNER_UID_LABEL not in s.labels), key=lambda s: s.where)
    pull = [s for s in found if s.type == DOCKERCONFIGJSON_TYPE]
    for secret in found:
        if secret.type != DOCKERCONFIGJSON_TYPE:
            migration.notes.append(
                f"Secret {secret.where}, written by {migration.name}, has type {secret.type}: "
                "a Secret's type cannot change in place, so cheiron cannot adopt it. Manager "
                f"{manager} reports it as SecretConflict until it is deleted, then writes its "
                "own."
            )
    if not pull:
        return
    migration.taken.extend(pull)
    if not LABEL_VALUE.match(manager):
        migration.notes.append(
            f"Manager {manager}: its name is longer than a label value may be (63 "
            f"characters), so {ADOPT_LABEL} cannot name it and the Secrets it would take over "
            "stay conflicts: give it a shorter name to adopt them."
        )
        return
    if not migration.adopt:
        return
    label = f"{ADOPT_LABEL}={manager}"
    if selection is not None:
        migration.labels.append(f"kubectl label secret {selection} {label} --overwrite")
    else:
        migration.labels.extend(
            f"kubectl label secret {s.name} -n {s.namespace} {label} --overwrite" for s in pull
        )


def _wrap(note: str, first: str = "# -", rest: str = "#  ", width: int = 96) -> list[str]:
    """Text as comment lines: `first` opens the first line, `rest` each continuation line."""
    words, lines, line = note.split(), [], first
    for word in words:
        if len(line) + 1 + len(word) > width and line not in (first, rest):
            lines.append(line)
            line = rest
        line += " " + word
    lines.append(line)
    return lines


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
            f"{kind} {where} would not be valid, left out: {validation_message(e, 'spec')}"
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
