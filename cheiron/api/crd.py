"""Generates CustomResourceDefinitions (apiextensions.k8s.io/v1) from the pydantic models.

pydantic's JSON Schema is close to, but not, a Kubernetes structural schema: references must
be inlined, `Optional` shows up as `anyOf [X, null]`, titles are noise and
`additionalProperties: false` is not allowed next to `properties`. This module rewrites one
into the other; everything else (descriptions, patterns, bounds, defaults, CEL rules) passes
through unchanged.
"""

from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel

from cheiron import API_GROUP, API_VERSION
from cheiron.api.models import (
    ClusterImageBackupSpec,
    ClusterImageBackupStatus,
    ClusterImagePullSecretManagerSpec,
    ImagePullSecretManagerSpec,
    ManagerStatus,
)

JsonObject = dict[str, Any]

# Keywords of JSON Schema that a structural schema either forbids or does not need.
_DROPPED = {"title", "$defs", "discriminator", "propertyNames"}


@dataclass(frozen=True)
class Kind:
    """A custom resource kind and the models behind its spec and status."""

    kind: str
    plural: str
    short_names: tuple[str, ...]
    namespaced: bool
    spec: type[BaseModel]
    status: type[BaseModel]
    description: str
    columns: tuple[JsonObject, ...] = ()

    @property
    def crd_name(self) -> str:
        """`<plural>.<group>`, the CRD's metadata.name."""
        return f"{self.plural}.{API_GROUP}"

    @property
    def singular(self) -> str:
        """The lower-case kind."""
        return self.kind.lower()


_READY_COLUMN = {
    "name": "Ready",
    "type": "string",
    "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
}
# `kubectl get -o wide` only (priority 1): why it is, or is not, Ready.
_REASON_COLUMN = {
    "name": "Reason",
    "type": "string",
    "priority": 1,
    "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
}
_AGE_COLUMN = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
_MANAGER_COLUMNS = (
    {"name": "Mode", "type": "string", "jsonPath": ".spec.mode"},
    _READY_COLUMN,
    _REASON_COLUMN,
    {"name": "Secrets", "type": "integer", "jsonPath": ".status.secretCount"},
    {"name": "Targets", "type": "integer", "jsonPath": ".status.targetNamespaces"},
    {"name": "Reconciled", "type": "integer", "jsonPath": ".status.reconciledObjects"},
    _AGE_COLUMN,
)
_BACKUP_COLUMNS = (
    {"name": "Rewrite", "type": "string", "jsonPath": ".spec.rewrite"},
    _READY_COLUMN,
    _REASON_COLUMN,
    {"name": "Backed-Up", "type": "integer", "jsonPath": ".status.backedUp"},
    {"name": "Pending", "type": "integer", "jsonPath": ".status.pending"},
    {"name": "Failed", "type": "integer", "jsonPath": ".status.failed"},
    _AGE_COLUMN,
)


IMAGE_PULL_SECRET_MANAGER = Kind(
    kind="ImagePullSecretManager",
    plural="imagepullsecretmanagers",
    short_names=("ipsm",),
    namespaced=True,
    spec=ImagePullSecretManagerSpec,
    status=ManagerStatus,
    description="Registry credentials delivered to the ServiceAccounts or Pods of its namespace.",
    columns=_MANAGER_COLUMNS,
)
CLUSTER_IMAGE_PULL_SECRET_MANAGER = Kind(
    kind="ClusterImagePullSecretManager",
    plural="clusterimagepullsecretmanagers",
    short_names=("cipsm",),
    namespaced=False,
    spec=ClusterImagePullSecretManagerSpec,
    status=ManagerStatus,
    description="Registry credentials delivered to the ServiceAccounts or Pods of many namespaces.",
    columns=_MANAGER_COLUMNS,
)
CLUSTER_IMAGE_BACKUP = Kind(
    kind="ClusterImageBackup",
    plural="clusterimagebackups",
    short_names=("cib",),
    namespaced=False,
    spec=ClusterImageBackupSpec,
    status=ClusterImageBackupStatus,
    description="Workload images copied to a backup registry, and workloads pointed at the copies.",
    columns=_BACKUP_COLUMNS,
)
KINDS = (IMAGE_PULL_SECRET_MANAGER, CLUSTER_IMAGE_PULL_SECRET_MANAGER, CLUSTER_IMAGE_BACKUP)


def structural(schema: JsonObject) -> JsonObject:
    """Turn a pydantic JSON Schema (with $defs) into a Kubernetes structural schema."""
    defs: JsonObject = schema.get("$defs", {})

    def unwrap(node: JsonObject) -> JsonObject | None:
        """The node a $ref, Optional or single allOf stands for, or None if it is none."""
        rest = {k: v for k, v in node.items() if k not in ("$ref", "anyOf", "allOf")}
        if "$ref" in node:
            return {**defs[node["$ref"].rsplit("/", 1)[-1]], **rest}
        variants = [v for v in node.get("anyOf", []) if v.get("type") != "null"]
        if len(variants) == 1:
            # Optional[X]: absence already expresses "unset"; null is never written.
            if rest.get("default", ...) is None:
                del rest["default"]
            return {**variants[0], **rest}
        if len(node.get("allOf", [])) == 1:
            return {**node["allOf"][0], **rest}
        return None

    def resolve(node: Any) -> Any:
        if isinstance(node, list):
            return [resolve(item) for item in node]
        if not isinstance(node, dict):
            return node
        if (inner := unwrap(node)) is not None:
            return resolve(inner)
        out: JsonObject = {}
        for key, value in node.items():
            if key == "const":
                out["enum"] = [value]
            elif key == "properties":
                out[key] = {name: resolve(sub) for name, sub in value.items()}
            elif key == "additionalProperties" and isinstance(value, bool):
                # `false` (extra="forbid") is not structural; the apiserver prunes instead.
                continue
            elif key not in _DROPPED:
                out[key] = resolve(value)
        if "enum" in out and "type" not in out:
            out["type"] = "string"
        if "properties" in out:
            out.setdefault("type", "object")
        return out

    return resolve(schema)  # type: ignore[no-any-return]


def _model_schema(model: type[BaseModel]) -> JsonObject:
    return structural(model.model_json_schema(by_alias=True, mode="validation"))


def crd(kind: Kind) -> JsonObject:
    """The CustomResourceDefinition of one kind."""
    spec_schema = _model_schema(kind.spec)
    spec_schema["description"] = kind.description
    status_schema = _model_schema(kind.status)
    status_schema.pop("description", None)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": kind.crd_name},
        "spec": {
            "group": API_GROUP,
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.singular,
                "shortNames": list(kind.short_names),
                "categories": ["cheiron"],
            },
            "scope": "Namespaced" if kind.namespaced else "Cluster",
            "versions": [
                {
                    "name": API_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": list(kind.columns),
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": kind.description,
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": status_schema,
                            },
                            "required": ["spec"],
                        }
                    },
                }
            ],
        },
    }


def crd_yaml(kind: Kind) -> str:
    """One CRD as the YAML document committed under config/crd/bases."""
    header = "# Generated by `cheiron crds` from cheiron/api/models.py. Do not edit.\n"
    body: str = yaml.safe_dump(crd(kind), sort_keys=False, width=100)
    return header + body


def all_crds_yaml() -> str:
    """Every CRD, as one multi-document YAML stream."""
    return "---\n".join(crd_yaml(kind) for kind in KINDS)


def crd_file_name(kind: Kind) -> str:
    """The file a kind's CRD lives in under config/crd/bases (kubebuilder's naming)."""
    return f"{API_GROUP}_{kind.plural}.yaml"
