"""Plain snapshots of cluster objects as the watches see them; the input of every rule (pure)."""

import base64
import hashlib
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from cheiron.api.meta import ADOPT_LABEL, LEGACY_SPEC_COPY, OWNER_UID_LABEL, PREFIX, is_ignored
from cheiron.api.models import (
    BackedUpImage,
    ClusterImageBackupSpec,
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


PLURALS = {
    ManagerKind.NAMESPACED: "imagepullsecretmanagers",
    ManagerKind.CLUSTER: "clusterimagepullsecretmanagers",
}


def manager_key(kind: "ManagerKind", namespace: str | None, name: str) -> str:
    """A manager's key: `Kind/namespace/name`, or `Kind/name` for a cluster manager."""
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


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
        return manager_key(self.kind, self.namespace, self.name)

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
    # The manager named by its adopt label (cheiron.api.meta.ADOPT_LABEL), if any.
    adopt_by: str | None = None

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


def relevant_secret(body: Mapping[str, Any]) -> bool:
    """A pull Secret or one of cheiron's own: the only Secrets cheiron keeps in memory."""
    return body.get("type") == DOCKERCONFIGJSON_TYPE or OWNER_UID_LABEL in (
        _meta(body).get("labels") or {}
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
        adopt_by=(meta.get("labels") or {}).get(ADOPT_LABEL),
    )


def _own(annotations: Mapping[str, str] | None) -> dict[str, str]:
    """The annotations of cheiron's own on an object (the protocol, the opt-out), no others."""
    return {k: v for k, v in (annotations or {}).items() if k.startswith(PREFIX)}


def _kept(values: Mapping[str, str] | None, keys: AbstractSet[str] | None) -> dict[str, str]:
    if not values:
        return {}
    if keys is None:
        return dict(values)
    return {k: values[k] for k in keys if k in values}


def account_info(
    body: Mapping[str, Any],
    *,
    pod: bool = False,
    label_keys: AbstractSet[str] | None = None,
    annotation_keys: AbstractSet[str] | None = None,
) -> AccountInfo:
    """A ServiceAccount (top-level imagePullSecrets) or Pod (spec.imagePullSecrets).

    `label_keys` and `annotation_keys`: the only labels (and, of a Pod, annotations beyond
    cheiron's own) kept, those some selector reads; None keeps them all.
    """
    meta = _meta(body)
    holder = body.get("spec") if pod else body
    refs = (holder or {}).get("imagePullSecrets") or []
    return AccountInfo(
        namespace=meta.get("namespace", ""),
        name=meta.get("name") or meta.get("generateName", ""),
        annotations=_own(meta.get("annotations")),
        pull_secrets=tuple(r.get("name", "") for r in refs if isinstance(r, Mapping)),
        resource_version=meta.get("resourceVersion", ""),
        uid=meta.get("uid", ""),
        controller_kind=next(
            (o.get("kind") for o in meta.get("ownerReferences") or [] if o.get("controller")),
            None,
        ),
        stuck_images=_stuck_images(body) if pod else (),
        service_account=(body.get("spec") or {}).get("serviceAccountName", "") if pod else "",
        labels=_kept(meta.get("labels"), label_keys),
        object_annotations=_kept(meta.get("annotations"), annotation_keys) if pod else {},
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


@dataclass(frozen=True)
class ManagerObject:
    """A manager as its lifecycle needs it: the parsed spec (None when malformed) and its body.

    The body (metadata, spec, status) is what a pass reads its previous status from and
    reports an invalid spec on; it is never changed in place.
    """

    kind: ManagerKind
    namespace: str | None
    name: str
    uid: str
    resource_version: str
    generation: int
    deleting: bool
    finalizers: tuple[str, ...]
    # An earlier version's copy of the spec is on the object: remove it.
    legacy_copy: bool
    info: ManagerInfo | None
    body: Mapping[str, Any] = field(compare=False, repr=False)

    @property
    def key(self) -> str:
        """The same key as ManagerInfo.key."""
        return manager_key(self.kind, self.namespace, self.name)


# What manager_object parsed, by UID: (generation, deleting, ManagerInfo or None).
ParsedManagers = dict[str, tuple[int, bool, "ManagerInfo | None"]]


def manager_object(
    kind: ManagerKind,
    body: Mapping[str, Any],
    *,
    eatr: bool = False,
    parsed: ParsedManagers | None = None,
) -> ManagerObject:
    """A manager for its lifecycle; a malformed spec gives `info` None, not an error.

    With `parsed`, a spec is validated once per generation: a manager's own status writes
    (most of its events) do not change its spec.
    """
    meta = _meta(body)
    uid = meta.get("uid") or ""
    generation = int(meta.get("generation") or 0)
    deleting = bool(meta.get("deletionTimestamp"))
    known = parsed.get(uid) if parsed is not None else None
    if known is not None and known[:2] == (generation, deleting):
        info = known[2]
    else:
        try:
            info = manager_info(kind, body, eatr=eatr)
        except ValidationError:
            info = None  # reported on the object by its own loop; provides nothing
        if parsed is not None:
            parsed[uid] = (generation, deleting, info)
    slim_meta = {
        k: meta[k]
        for k in ("name", "namespace", "uid", "generation", "deletionTimestamp")
        if k in meta
    }
    return ManagerObject(
        kind=kind,
        namespace=meta.get("namespace") if kind is ManagerKind.NAMESPACED else None,
        name=meta.get("name") or "",
        uid=uid,
        resource_version=str(meta.get("resourceVersion") or ""),
        generation=generation,
        deleting=deleting,
        finalizers=tuple(meta.get("finalizers") or ()),
        legacy_copy=LEGACY_SPEC_COPY in (meta.get("annotations") or {}),
        info=info,
        body={"metadata": slim_meta, "spec": body.get("spec"), "status": body.get("status")},
    )


@dataclass(frozen=True)
class ContainerImage:
    """One container of a pod template or Pod: where it sits and which image it runs."""

    field: str  # "containers" or "initContainers"
    index: int
    name: str
    image: str


@dataclass(frozen=True)
class WorkloadInfo:
    """A Deployment, DaemonSet or StatefulSet as the backup controller sees it."""

    kind: str
    namespace: str
    name: str
    uid: str = ""
    annotations: Mapping[str, str] = field(default_factory=dict)
    containers: tuple[ContainerImage, ...] = ()
    # The pod template's own imagePullSecrets and ServiceAccount.
    pull_secrets: tuple[str, ...] = ()
    service_account: str = "default"
    # spec.selector.matchLabels: which Pods are this workload's (for Pod-mode opt-out).
    selector: Mapping[str, str] = field(default_factory=dict)
    # Whether it has annotations at all: `annotations` keeps only cheiron's own.
    annotated: bool = False

    @property
    def ignored(self) -> bool:
        """Opted out with the ignore annotation."""
        return is_ignored(self.annotations)


def pod_spec_images(pod_spec: Mapping[str, Any]) -> tuple[ContainerImage, ...]:
    """The images of `initContainers` and `containers` of a pod spec, in order."""
    return tuple(
        ContainerImage(key, i, c.get("name", ""), c.get("image") or "")
        for key in ("initContainers", "containers")
        for i, c in enumerate(pod_spec.get(key) or [])
    )


def workload_info(kind: str, body: Mapping[str, Any]) -> WorkloadInfo:
    """A workload's identity, opt-out and pod template images."""
    meta = _meta(body)
    spec = body.get("spec") or {}
    template = (spec.get("template") or {}).get("spec") or {}
    return WorkloadInfo(
        kind=kind,
        namespace=meta.get("namespace", ""),
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        # cheiron's own only: a tenant's 256 KiB of annotations stay out.
        annotations=_own(meta.get("annotations")),
        containers=pod_spec_images(template),
        pull_secrets=tuple(r.get("name", "") for r in template.get("imagePullSecrets") or [] if r),
        service_account=template.get("serviceAccountName") or "default",
        selector=dict((spec.get("selector") or {}).get("matchLabels") or {}),
        annotated=bool(meta.get("annotations")),
    )


@dataclass(frozen=True)
class BackupInfo:
    """A ClusterImageBackup as observed: validated spec and the images its status records."""

    name: str
    uid: str
    generation: int
    spec: ClusterImageBackupSpec
    images: tuple[BackedUpImage, ...] = ()
    namespaces: tuple[str, ...] = ()
    deleting: bool = False


def backup_info(body: Mapping[str, Any]) -> BackupInfo:
    """A ClusterImageBackup with spec and recorded images validated (pydantic.ValidationError)."""
    meta = _meta(body)
    status = body.get("status") or {}
    return BackupInfo(
        name=meta["name"],
        uid=meta.get("uid", ""),
        generation=int(meta.get("generation") or 0),
        spec=ClusterImageBackupSpec.model_validate(body.get("spec") or {}),
        images=tuple(BackedUpImage.model_validate(i) for i in status.get("images") or []),
        namespaces=tuple(status.get("namespaces") or ()),
        deleting=bool(meta.get("deletionTimestamp")),
    )
