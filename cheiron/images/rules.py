"""What a ClusterImageBackup should do now: which images to copy, which workloads to rewrite.

Pure functions of what the watches saw (workloads, namespaces, the backup's status). The
controller copies what `wanted_images` names and rewrites what `plan_rewrite` returns; a
workload is only ever pointed at a backup whose copy was verified (state BackedUp).
"""

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cheiron import API_GROUP, API_VERSION
from cheiron.api.meta import BACKUP_ORIGINALS, MANAGED_BY, MANAGED_BY_LABEL, is_ignored
from cheiron.api.models import (
    BackedUpImage,
    ClusterCredentialsRef,
    ClusterImageBackupSpec,
    ClusterImagePullSecretManagerSpec,
    ClusterSecretEntry,
    ClusterTarget,
    ImageState,
    Mode,
    NamespaceRules,
    Rewrite,
)
from cheiron.api.observed import BackupInfo, ContainerImage, NamespaceInfo, WorkloadInfo
from cheiron.images.reference import (
    ImageRef,
    InvalidReference,
    backup_repository,
    in_registry,
    normalise_host,
    parse,
    pinned,
)
from cheiron.targeting import eligible


def container_key(container: ContainerImage) -> str:
    """`containers/0`: the container's place in the pod spec (names may repeat across lists)."""
    return f"{container.field}/{container.index}"


def originals(workload: WorkloadInfo) -> dict[str, str]:
    """The images cheiron replaced on this workload, by container key (empty if none)."""
    try:
        recorded = json.loads(workload.annotations.get(BACKUP_ORIGINALS) or "{}")
    except ValueError:
        return {}
    if not isinstance(recorded, dict):
        return {}
    return {str(k): str(v) for k, v in recorded.items()}


def namespace_selected(
    spec: ClusterImageBackupSpec, namespace: NamespaceInfo | None, operator_namespace: str
) -> bool:
    """A namespace the backup acts in: usable, not opted out, not excluded."""
    return namespace is not None and eligible(
        namespace, (*spec.exclude_namespaces, operator_namespace)
    )


def workload_selected(
    spec: ClusterImageBackupSpec,
    workload: WorkloadInfo,
    namespaces: Mapping[str, NamespaceInfo],
    operator_namespace: str,
) -> bool:
    """A workload of a covered kind, not opted out, in a selected namespace."""
    return (
        workload.kind in spec.workload_kinds
        and not workload.ignored
        and namespace_selected(spec, namespaces.get(workload.namespace), operator_namespace)
    )


@dataclass(frozen=True)
class Wanted:
    """A source image to back up and the repository its backup goes to."""

    source: ImageRef
    repository: str


def allowed_in(spec: ClusterImageBackupSpec, ref: ImageRef, namespace: str) -> bool:
    """Whether a namespace's workloads may have this image backed up and run from the backup.

    A source registry read with credentials is the admin's to share: only the namespaces it
    lists, or any namespace could have another's private image copied and run it.
    """
    for source in spec.source_registries:
        if normalise_host(source.registry) == ref.host:
            return source.credentials_secret_ref is None or namespace in source.namespaces
    return True


def wanted_of(spec: ClusterImageBackupSpec, image: str, namespace: str) -> Wanted | None:
    """The parsed reference and its backup; None when not for this namespace to back up.

    None: the image already lives in the backup, or the namespace may not use a backup of it.
    Raises InvalidReference for an image that cannot be parsed or mapped.
    """
    ref = parse(image)
    if in_registry(ref, spec.registry.host, spec.registry.prefix):
        return None
    if not allowed_in(spec, ref, namespace):
        return None
    return Wanted(ref, backup_repository(ref, spec.registry.host, spec.registry.prefix))


def source_of(spec: ClusterImageBackupSpec, image: str, namespace: str) -> ImageRef | None:
    """The parsed reference; None when not for this namespace to back up (see wanted_of).

    Raises InvalidReference for an image that cannot be parsed or mapped.
    """
    wanted = wanted_of(spec, image, namespace)
    return None if wanted is None else wanted.source


def wanted_images(
    spec: ClusterImageBackupSpec, workloads: Iterable[WorkloadInfo]
) -> tuple[dict[str, Wanted], dict[str, str]]:
    """Images to have in the backup by normalised source name; and invalid images' errors.

    A workload already pointed at its backups still wants its originals backed up: they stay
    in status, and a source changed back by someone is found backed up already.
    """
    wanted: dict[str, Wanted] = {}
    invalid: dict[str, str] = {}
    for workload in workloads:
        images = [c.image for c in workload.containers] + list(originals(workload).values())
        for image in images:
            try:
                found = wanted_of(spec, image, workload.namespace)
            except InvalidReference as e:
                invalid[image] = str(e)
                continue
            if found is not None:
                wanted.setdefault(found.source.name, found)
    return wanted, invalid


def merge_records(
    wanted: Mapping[str, Wanted], recorded: Iterable[BackedUpImage]
) -> dict[str, BackedUpImage]:
    """Status records for exactly the wanted images: kept where recorded, Pending where new."""
    by_source = {r.source: r for r in recorded}
    return {
        name: by_source.get(name)
        or BackedUpImage(source=name, state=ImageState.PENDING, digest=w.source.digest)
        for name, w in sorted(wanted.items())
    }


def backup_reference(spec: ClusterImageBackupSpec, want: Wanted, digest: str) -> str:
    """The pinned reference of a verified backup."""
    return pinned(want.source, want.repository, digest, keep_tag=spec.keep_tag)


@dataclass(frozen=True)
class ContainerRewrite:
    """One container's image replaced by its backup."""

    container: ContainerImage
    image: str


@dataclass(frozen=True)
class WorkloadRewrite:
    """The change that points a workload at its backups."""

    workload: WorkloadInfo
    changes: tuple[ContainerRewrite, ...]
    # The template lists pull Secrets of its own, so the ServiceAccount's are not used.
    add_pull_secret: str | None = None

    @property
    def originals(self) -> dict[str, str]:
        """The annotation value: what was replaced, merged with earlier rewrites."""
        merged = originals(self.workload)
        for change in self.changes:
            merged.setdefault(container_key(change.container), change.container.image)
        return merged


def rewrites_for(
    spec: ClusterImageBackupSpec,
    images: Iterable[ContainerImage],
    records: Mapping[str, BackedUpImage],
    namespace: str,
) -> tuple[list[ContainerRewrite], bool]:
    """Backups for a namespace's containers; and whether each image it may back up has one.

    Images the namespace may not use a backup of are left as they are.
    """
    changes: list[ContainerRewrite] = []
    complete = True
    for container in images:
        try:
            ref = source_of(spec, container.image, namespace)
        except InvalidReference:
            complete = False
            continue
        if ref is None:
            continue
        record = records.get(ref.name)
        if record is None or record.state is not ImageState.BACKED_UP or not record.backup:
            complete = False
            continue
        changes.append(ContainerRewrite(container, record.backup))
    return changes, complete


def plan_rewrite(
    spec: ClusterImageBackupSpec,
    workload: WorkloadInfo,
    records: Mapping[str, BackedUpImage],
    *,
    secret_name: str,
    secret_present: bool,
    account_lists_secret: bool,
) -> WorkloadRewrite | None:
    """The rewrite of a workload, once all its images are backed up and Pods can pull them.

    All images at once or none: every rewrite rolls the workload out again, and a workload
    with a failed image stays as it is (the error is in status).
    """
    changes, complete = rewrites_for(spec, workload.containers, records, workload.namespace)
    if not changes or not complete or not secret_present:
        return None
    if workload.pull_secrets:
        # Pods with pull Secrets of their own never get the ServiceAccount's (trap 2).
        missing = secret_name not in workload.pull_secrets
        return WorkloadRewrite(workload, tuple(changes), secret_name if missing else None)
    if not account_lists_secret:
        return None
    return WorkloadRewrite(workload, tuple(changes))


def pod_opted_out(
    pod_labels: Mapping[str, str], namespace: str, workloads: Iterable[WorkloadInfo]
) -> bool:
    """A Pod of an opted-out workload (its labels match the workload's selector)."""
    return any(
        w.ignored
        and w.namespace == namespace
        and w.selector
        and all(pod_labels.get(k) == v for k, v in w.selector.items())
        for w in workloads
    )


def rewrite_operations(rewrite: WorkloadRewrite) -> list[dict[str, Any]]:
    """The JSON patch of a rewrite; each image is tested first, so a concurrent edit wins."""
    ops: list[dict[str, Any]] = []
    for change in rewrite.changes:
        path = f"/spec/template/spec/{change.container.field}/{change.container.index}/image"
        ops += [
            {"op": "test", "path": path, "value": change.container.image},
            {"op": "replace", "path": path, "value": change.image},
        ]
    if rewrite.add_pull_secret is not None:
        ops.append(
            {
                "op": "add",
                "path": "/spec/template/spec/imagePullSecrets/-",
                "value": {"name": rewrite.add_pull_secret},
            }
        )
    value = json.dumps(rewrite.originals, sort_keys=True)
    if rewrite.workload.annotations:
        key = BACKUP_ORIGINALS.replace("~", "~0").replace("/", "~1")
        ops.append({"op": "add", "path": f"/metadata/annotations/{key}", "value": value})
    else:
        ops.append(
            {"op": "add", "path": "/metadata/annotations", "value": {BACKUP_ORIGINALS: value}}
        )
    return ops


def pull_secret_name(backup_name: str) -> str:
    """The pull Secret (and ClusterImagePullSecretManager) of a backup: `backup-<name>`."""
    return f"backup-{backup_name}"


def pull_credentials(spec: ClusterImageBackupSpec) -> ClusterCredentialsRef | None:
    """The credentials workload namespaces get to pull backups; None: none may be handed out.

    The push credentials would let every tenant who reads their namespace's Secrets
    overwrite any backup: only with the admin's explicit sharePushCredentials.
    """
    registry = spec.registry
    if registry.pull_credentials_secret_ref is not None:
        return registry.pull_credentials_secret_ref
    return registry.credentials_secret_ref if registry.share_push_credentials else None


def needs_pull_secret(
    spec: ClusterImageBackupSpec, workload: WorkloadInfo, vouched: Collection[str]
) -> bool:
    """The workload runs, or will run, images from the backup registry.

    Its originals annotation says it runs backups, but tenants can write it: it counts only
    in `vouched` namespaces, those the backup's status says it gave the Secret already.
    """
    if originals(workload) and workload.namespace in vouched:
        return True
    for container in workload.containers:
        try:
            if source_of(spec, container.image, workload.namespace) is not None:
                return True
        except InvalidReference:
            continue
    return False


def pull_secret_manager(
    backup_name: str, backup_uid: str, spec: ClusterImageBackupSpec, namespaces: Iterable[str]
) -> dict[str, Any]:
    """The ClusterImagePullSecretManager that gives `namespaces` the backup's pull Secret.

    ServiceAccount mode: the existing manager and ServiceAccount controllers do the rest. It
    is owned by the backup, so Kubernetes deletes it (and cheiron its Secrets) with it.
    """
    name = pull_secret_name(backup_name)
    registry = spec.registry
    credentials = pull_credentials(spec)
    entry = ClusterSecretEntry(
        name=name,
        registry=registry.host,
        credentials_secret_ref=credentials or registry.credentials_secret_ref,
    )
    # Without credentials to hand out, the manager targets no namespace at all.
    targets = sorted(set(namespaces)) if credentials is not None else []
    manager = ClusterImagePullSecretManagerSpec(
        mode=Mode.SERVICE_ACCOUNT,
        secrets=[entry],
        target=ClusterTarget(namespaces=NamespaceRules(names=targets)),
    )
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": "ClusterImagePullSecretManager",
        "metadata": {
            "name": name,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY},
            "ownerReferences": [
                {
                    "apiVersion": f"{API_GROUP}/{API_VERSION}",
                    "kind": "ClusterImageBackup",
                    "name": backup_name,
                    "uid": backup_uid,
                    "controller": True,
                    "blockOwnerDeletion": False,
                }
            ],
        },
        # Every default written out: the stored spec then equals this one, and an unchanged
        # backup never rewrites its manager.
        "spec": manager.model_dump(by_alias=True, exclude_none=True, mode="json"),
    }


@dataclass(frozen=True)
class PodRewrite:
    """What admission changes in a Pod being created: images, and a pull Secret to list."""

    changes: tuple[ContainerRewrite, ...]
    pull_secret: str

    @property
    def originals(self) -> dict[str, str]:
        """The replaced images by container key, for the Pod's annotation."""
        return {container_key(c.container): c.container.image for c in self.changes}


@dataclass(frozen=True)
class PodFacts:
    """What admission knows of a Pod being created."""

    namespace: str
    containers: tuple[ContainerImage, ...]
    labels: Mapping[str, str]
    annotations: Mapping[str, str]


def admit_pod(
    backups: Iterable[BackupInfo],
    pod: PodFacts,
    *,
    namespace: NamespaceInfo | None,
    workloads: Iterable[WorkloadInfo],
    secrets_present: Iterable[str],
    operator_namespace: str,
) -> PodRewrite | None:
    """rewrite=Pods: the backups a Pod being created should run instead of its sources.

    Only verified backups, only in namespaces that already hold the backup's pull Secret,
    never for opted-out Pods, workloads or namespaces. Images without a backup stay as they
    are: unlike a workload, a Pod is not rolled out again, so a partial rewrite costs nothing.
    """
    if is_ignored(pod.annotations) or pod_opted_out(pod.labels, pod.namespace, workloads):
        return None
    present = set(secrets_present)
    for backup in backups:
        spec, secret = backup.spec, pull_secret_name(backup.name)
        if (
            backup.deleting
            or spec.rewrite is not Rewrite.PODS
            or pod.namespace not in backup.namespaces
            or secret not in present
            or not namespace_selected(spec, namespace, operator_namespace)
        ):
            continue
        records = {r.source: r for r in backup.images}
        changes, _complete = rewrites_for(spec, pod.containers, records, pod.namespace)
        if changes:
            return PodRewrite(tuple(changes), secret)
    return None


def pod_admission_patch(
    spec: Mapping[str, Any],
    decision: tuple[tuple[str, ...], Mapping[str, str]] | None,
    rewrite: PodRewrite | None,
) -> dict[str, Any] | None:
    """The Pod webhook's whole patch: pull secrets and marks, and images pointed at backups.

    `decision` is the pull secrets and marks the Pod is born with (None: none of its
    business); `rewrite` the backed-up images (None: none). None: the Pod is left as it is.
    """
    if decision is None and rewrite is None:
        return None
    pull_secrets = [r.get("name", "") for r in spec.get("imagePullSecrets") or [] if r]
    annotations: dict[str, str] = {}
    if decision is not None:
        pull_secrets, annotations = list(decision[0]), dict(decision[1])
    patch_spec: dict[str, Any] = {}
    if rewrite is not None:
        lists = {
            key: [dict(c) for c in spec.get(key) or []] for key in ("initContainers", "containers")
        }
        for change in rewrite.changes:
            lists[change.container.field][change.container.index]["image"] = change.image
        patch_spec.update({key: containers for key, containers in lists.items() if containers})
        if rewrite.pull_secret not in pull_secrets:
            # The ServiceAccount's secrets were merged before this webhook runs, or the Pod
            # lists its own and so never gets them: either way, list the backup's here.
            pull_secrets.append(rewrite.pull_secret)
        annotations[BACKUP_ORIGINALS] = json.dumps(rewrite.originals, sort_keys=True)
    patch_spec["imagePullSecrets"] = [{"name": name} for name in pull_secrets]
    return {"spec": patch_spec, "metadata": {"annotations": annotations}}
