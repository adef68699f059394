"""Plain snapshots of cluster objects as the watches see them; the input of all planning (pure)."""

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cheiron.api.meta import OWNER_UID_LABEL, PREFIX, is_ignored
from cheiron.api.models import (
    ClusterImagePullSecretManagerSpec,
    ImagePullSecretManagerSpec,
    Mode,
)
from cheiron.dockerconfig import DockerConfig, DockerConfigError

DOCKERCONFIGJSON_TYPE = "kubernetes.io/dockerconfigjson"
DOCKERCONFIGJSON_KEY = ".dockerconfigjson"


def digest(payload: bytes) -> str:
    """A fingerprint of Secret content that can sit in memory instead of the content itself."""
    return hashlib.sha256(payload).hexdigest()


class ManagerKind(StrEnum):
    """The two manager kinds."""

    NAMESPACED = "ImagePullSecretManager"
    CLUSTER = "ClusterImagePullSecretManager"


@dataclass(frozen=True)
class ManagerInfo:
    """A manager as observed: identity and validated spec."""

    kind: ManagerKind
    name: str
    namespace: str | None
    uid: str
    generation: int
    spec: ImagePullSecretManagerSpec | ClusterImagePullSecretManagerSpec
    deleting: bool = False
    # eatr compatibility (an operator setting): a namespace labelled with an ECR entry's
    # registry host, value "true", receives that entry's Secret. Cluster managers only.
    eatr: bool = False

    @property
    def key(self) -> str:
        """`Kind/namespace/name` or `Kind/name`: unique, stable, readable in logs."""
        if self.namespace is None:
            return f"{self.kind}/{self.name}"
        return f"{self.kind}/{self.namespace}/{self.name}"

    @property
    def mode(self) -> Mode:
        """ServiceAccount or Pod mode."""
        return self.spec.mode


@dataclass(frozen=True)
class NamespaceInfo:
    """What targeting needs to know of a Namespace."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    terminating: bool = False

    @property
    def ignored(self) -> bool:
        """Opted out with the ignore annotation."""
        return is_ignored(self.annotations)

    @property
    def usable(self) -> bool:
        """Neither opted out nor being deleted (a terminating namespace refuses creates)."""
        return not self.ignored and not self.terminating


@dataclass(frozen=True)
class SecretInfo:
    """A Secret as observed, with a digest of its pull configuration instead of the data."""

    namespace: str
    name: str
    type: str
    owner_uid: str | None = None
    digest: str = ""
    # Whether its payload parses as a dockerconfigjson; a broken one is never attached.
    valid: bool = True
    registries: tuple[str, ...] = ()

    @property
    def is_pull_secret(self) -> bool:
        """A usable kubernetes.io/dockerconfigjson Secret."""
        return self.type == DOCKERCONFIGJSON_TYPE and self.valid


@dataclass(frozen=True)
class AccountInfo:
    """A ServiceAccount or Pod as the pull-secret protocol sees it."""

    namespace: str
    name: str
    annotations: Mapping[str, str] = field(default_factory=dict)
    pull_secrets: tuple[str, ...] = ()
    resource_version: str = ""
    uid: str = ""
    # Pods only: the kind of the controller that owns it, and images stuck on a pull error.
    controller_kind: str | None = None
    stuck_images: tuple[str, ...] = ()
    service_account: str = ""
    # For selectors: the object's labels and all its annotations.
    labels: Mapping[str, str] = field(default_factory=dict)
    object_annotations: Mapping[str, str] = field(default_factory=dict)


# --- from watched bodies ---------------------------------------------------------------


def _meta(body: Mapping[str, Any]) -> Mapping[str, Any]:
    meta: Mapping[str, Any] = body.get("metadata") or {}
    return meta


def namespace_info(body: Mapping[str, Any]) -> NamespaceInfo:
    """A Namespace as targeting sees it."""
    meta = _meta(body)
    return NamespaceInfo(
        name=meta["name"],
        labels=dict(meta.get("labels") or {}),
        annotations=dict(meta.get("annotations") or {}),
        terminating=bool(meta.get("deletionTimestamp"))
        or (body.get("status") or {}).get("phase") == "Terminating",
    )


def secret_info(body: Mapping[str, Any]) -> SecretInfo:
    """A Secret with its payload replaced by a digest."""
    meta = _meta(body)
    encoded = (body.get("data") or {}).get(DOCKERCONFIGJSON_KEY) or ""
    payload = base64.b64decode(encoded) if encoded else b""
    try:
        registries = DockerConfig.parse(payload).registries
        valid = True
    except DockerConfigError:
        registries, valid = (), False
    return SecretInfo(
        namespace=meta["namespace"],
        name=meta["name"],
        type=body.get("type") or "Opaque",
        owner_uid=(meta.get("labels") or {}).get(OWNER_UID_LABEL),
        digest=digest(payload) if payload else "",
        valid=valid,
        registries=registries,
    )


def account_info(body: Mapping[str, Any], *, pod: bool = False) -> AccountInfo:
    """A ServiceAccount (top-level imagePullSecrets) or Pod (spec.imagePullSecrets)."""
    meta = _meta(body)
    holder = body.get("spec") if pod else body
    refs = (holder or {}).get("imagePullSecrets") or []
    return AccountInfo(
        namespace=meta.get("namespace", ""),
        name=meta.get("name") or meta.get("generateName", ""),
        annotations={
            k: v for k, v in (meta.get("annotations") or {}).items() if k.startswith(PREFIX)
        },
        pull_secrets=tuple(r.get("name", "") for r in refs if isinstance(r, Mapping)),
        resource_version=meta.get("resourceVersion", ""),
        uid=meta.get("uid", ""),
        controller_kind=next(
            (o.get("kind") for o in meta.get("ownerReferences") or [] if o.get("controller")),
            None,
        ),
        stuck_images=_stuck_images(body) if pod else (),
        service_account=(body.get("spec") or {}).get("serviceAccountName", "") if pod else "",
        labels=dict(meta.get("labels") or {}),
        object_annotations=dict(meta.get("annotations") or {}) if pod else {},
    )


PULL_ERRORS = frozenset({"ErrImagePull", "ImagePullBackOff"})


def _stuck_images(body: Mapping[str, Any]) -> tuple[str, ...]:
    status = body.get("status") or {}
    statuses = [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
    ]
    return tuple(
        s.get("image", "")
        for s in statuses
        if ((s.get("state") or {}).get("waiting") or {}).get("reason") in PULL_ERRORS
    )


def manager_info(kind: ManagerKind, body: Mapping[str, Any], *, eatr: bool = False) -> ManagerInfo:
    """A manager with its spec validated; raises pydantic.ValidationError when malformed."""
    meta = _meta(body)
    spec_model = (
        ImagePullSecretManagerSpec
        if kind is ManagerKind.NAMESPACED
        else ClusterImagePullSecretManagerSpec
    )
    return ManagerInfo(
        kind=kind,
        name=meta["name"],
        namespace=meta.get("namespace") if kind is ManagerKind.NAMESPACED else None,
        uid=meta["uid"],
        generation=int(meta.get("generation") or 0),
        spec=spec_model.model_validate(body.get("spec") or {}),
        deleting=bool(meta.get("deletionTimestamp")),
        eatr=eatr and kind is ManagerKind.CLUSTER,
    )
