"""What a ClusterImageBackup should do now: which images to copy, which workloads to rewrite.

Pure functions of what the watches saw (workloads, namespaces, the backup's status). The
controller copies what `wanted_images` names and rewrites what `plan_rewrite` returns; a
workload is only ever pointed at a backup whose copy was verified (state BackedUp).

Backups are as private as their sources (`Scope`): those of sources read anonymously are
public, pulled with the backup's one pull Secret; those of a source read with credentials
live under a path of their own, pulled with a Secret of their own that goes only to the
namespaces that source entry lists.
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
    SourceRegistry,
)
from cheiron.api.observed import BackupInfo, ContainerImage, NamespaceInfo, WorkloadInfo
from cheiron.images.reference import (
    ImageRef,
    InvalidReference,
    backup_repository,
    host_component,
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


PRIVATE = "private"  # `<prefix>/private`: where private backups go by default


def source_entry(spec: ClusterImageBackupSpec, host: str) -> SourceRegistry | None:
    """The sourceRegistries entry of a (normalised) host; one with credentials first.

    Spellings of one host (`docker.io`, `index.docker.io`) may each be listed: if any of
    them carries credentials, skopeo reads the host with them, so the host is private.
    """
    entries = [s for s in spec.source_registries if normalise_host(s.registry) == host]
    credentialed = [s for s in entries if s.credentials_secret_ref is not None]
    found = credentialed or entries
    return found[0] if found else None


def source_hosts(spec: ClusterImageBackupSpec) -> dict[str, SourceRegistry]:
    """Each listed source host (normalised) and the one entry cheiron reads it with."""
    hosts = {normalise_host(s.registry) for s in spec.source_registries}
    return {host: entry for host in sorted(hosts) if (entry := source_entry(spec, host))}


def is_private(entry: SourceRegistry | None) -> bool:
    """A source read with credentials: its images are not everyone's to pull."""
    return entry is not None and entry.credentials_secret_ref is not None


@dataclass(frozen=True)
class Scope:
    """Who may pull a set of backups: where they live, and the pull Secret that reads them.

    The public scope (`source` None) holds backups of sources read anonymously: any
    selected namespace may pull them. A private scope holds one credentialed source's
    backups, under a path of its own (`prefix`) that only its own pull credentials read,
    handed to the namespaces its entry lists.
    """

    secret: str
    prefix: str | None
    credentials: ClusterCredentialsRef | None
    source: SourceRegistry | None = None

    @property
    def namespaces(self) -> frozenset[str] | None:
        """The namespaces entitled to these backups; None: every selected one."""
        return None if self.source is None else frozenset(self.source.namespaces)

    def registry_key(self, host: str) -> str:
        """The dockerconfigjson key of its Secret: the host, or the host and the path it reads.

        A key with a path applies to images under it only (the kubelet matches by prefix),
        so the runtime tries a private scope's login on its own backups, not on others.
        """
        if self.source is None:
            return host
        return f"{host}/{self.prefix}/{host_component(normalise_host(self.source.registry))}"


def private_prefix(spec: ClusterImageBackupSpec, entry: SourceRegistry) -> str:
    """Where a credentialed source's backups go: its backupPrefix, or `<prefix>/private`."""
    if entry.backup_prefix is not None:
        return entry.backup_prefix
    prefix = spec.registry.prefix
    return f"{prefix}/{PRIVATE}" if prefix else PRIVATE


def scope_secret_name(backup_name: str, entry: SourceRegistry) -> str:
    """`backup-<name>-<source host>` (`:` as `-`): a private scope's Secret and manager."""
    return f"{pull_secret_name(backup_name)}-{normalise_host(entry.registry).replace(':', '-')}"


def scope_of(spec: ClusterImageBackupSpec, backup_name: str, host: str) -> Scope:
    """The scope of backups of images from `host`."""
    entry = source_entry(spec, host)
    if entry is None or not is_private(entry):
        return Scope(pull_secret_name(backup_name), spec.registry.prefix, pull_credentials(spec))
    return Scope(
        scope_secret_name(backup_name, entry),
        private_prefix(spec, entry),
        entry.backup_pull_credentials_secret_ref,
        entry,
    )


def scopes(spec: ClusterImageBackupSpec, backup_name: str) -> list[Scope]:
    """Every scope of a backup: the public one first, then one per credentialed source."""
    public = Scope(pull_secret_name(backup_name), spec.registry.prefix, pull_credentials(spec))
    return [
        public,
        *(scope_of(spec, backup_name, h) for h, e in source_hosts(spec).items() if is_private(e)),
    ]


@dataclass(frozen=True)
class Wanted:
    """A source image to back up and the repository its backup goes to."""

    source: ImageRef
    repository: str
    private: bool = False


def allowed_in(spec: ClusterImageBackupSpec, ref: ImageRef, namespace: str) -> bool:
    """Whether a namespace's workloads may have this image backed up and run from the backup.

    A source registry read with credentials is the admin's to share: only the namespaces it
    lists, or any namespace could have another's private image copied and run it.
    """
    entry = source_entry(spec, ref.host)
    return not is_private(entry) or (entry is not None and namespace in entry.namespaces)


def on_backup_host(spec: ClusterImageBackupSpec, ref: ImageRef) -> bool:
    """An image of the backup registry's host: read with the push credentials, never copied.

    Besides the backups themselves (under the prefix), whatever else that registry holds is
    only for those its own credentials let pull it, not for a public backup.
    """
    return ref.host == normalise_host(spec.registry.host)


def wanted_of(spec: ClusterImageBackupSpec, image: str, namespace: str) -> Wanted | None:
    """The parsed reference and its backup; None when not for this namespace to back up.

    None: the image is on the backup registry's host, or the namespace may not use a backup
    of it. Raises InvalidReference for an image that cannot be parsed or mapped.
    """
    ref = parse(image)
    if on_backup_host(spec, ref) or not allowed_in(spec, ref, namespace):
        return None
    entry = source_entry(spec, ref.host)
    if entry is not None and is_private(entry):
        prefix = private_prefix(spec, entry)
        return Wanted(ref, backup_repository(ref, spec.registry.host, prefix), private=True)
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


def _in_repository(backup: str, repository: str) -> bool:
    return backup.startswith((f"{repository}:", f"{repository}@"))


def merge_records(
    wanted: Mapping[str, Wanted], recorded: Iterable[BackedUpImage]
) -> dict[str, BackedUpImage]:
    """Status records for exactly the wanted images: kept where recorded, Pending where new.

    A record whose backup lives elsewhere than the image's backup goes now (a source that
    became credentialed, a changed backupPrefix) is Pending again: it is copied to its place.
    """
    by_source = {r.source: r for r in recorded}
    merged: dict[str, BackedUpImage] = {}
    for name, w in sorted(wanted.items()):
        record = by_source.get(name)
        if record is not None and record.backup and not _in_repository(record.backup, w.repository):
            record = BackedUpImage(source=name, state=ImageState.PENDING, digest=record.digest)
        merged[name] = record or BackedUpImage(
            source=name, state=ImageState.PENDING, digest=w.source.digest
        )
    return merged


def backup_reference(spec: ClusterImageBackupSpec, want: Wanted, digest: str) -> str:
    """The pinned reference of a verified backup."""
    return pinned(want.source, want.repository, digest, keep_tag=spec.keep_tag)


@dataclass(frozen=True)
class ContainerRewrite:
    """One container's image replaced by its backup, and the pull Secret that reads it."""

    container: ContainerImage
    image: str
    secret: str


@dataclass(frozen=True)
class WorkloadRewrite:
    """The change that points a workload at its backups."""

    workload: WorkloadInfo
    changes: tuple[ContainerRewrite, ...]
    # The template lists pull Secrets of its own, so the ServiceAccount's are not used.
    add_pull_secrets: tuple[str, ...] = ()

    @property
    def originals(self) -> dict[str, str]:
        """The annotation value: what was replaced, merged with earlier rewrites."""
        merged = originals(self.workload)
        for change in self.changes:
            merged.setdefault(container_key(change.container), change.container.image)
        return merged


def rewrites_for(
    spec: ClusterImageBackupSpec,
    backup_name: str,
    images: Iterable[ContainerImage],
    records: Mapping[str, BackedUpImage],
    namespace: str,
) -> tuple[list[ContainerRewrite], bool]:
    """Backups for a namespace's containers; and whether each image it may back up has one.

    Images the namespace may not use a backup of are left as they are, and so are those
    whose scope has no pull credentials to hand out (no Pod could pull their backup).
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
        scope = scope_of(spec, backup_name, ref.host)
        if scope.credentials is None:
            continue
        record = records.get(ref.name)
        if record is None or record.state is not ImageState.BACKED_UP or not record.backup:
            complete = False
            continue
        changes.append(ContainerRewrite(container, record.backup, scope.secret))
    return changes, complete


def plan_rewrite(
    spec: ClusterImageBackupSpec,
    backup_name: str,
    workload: WorkloadInfo,
    records: Mapping[str, BackedUpImage],
    *,
    secrets_present: Collection[str],
    account_secrets: Collection[str],
) -> WorkloadRewrite | None:
    """The rewrite of a workload, once all its images are backed up and Pods can pull them.

    All images at once or none: every rewrite rolls the workload out again, and a workload
    with a failed image stays as it is (the error is in status). Pods can pull once each
    backup's scope Secret is in the namespace and the Pods get it.
    """
    changes, complete = rewrites_for(
        spec, backup_name, workload.containers, records, workload.namespace
    )
    needed = sorted({c.secret for c in changes})
    if not changes or not complete or any(s not in secrets_present for s in needed):
        return None
    if workload.pull_secrets:
        # Pods with pull Secrets of their own never get the ServiceAccount's (trap 2).
        missing = tuple(s for s in needed if s not in workload.pull_secrets)
        return WorkloadRewrite(workload, tuple(changes), missing)
    if any(s not in account_secrets for s in needed):
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
    ops += [
        {"op": "add", "path": "/spec/template/spec/imagePullSecrets/-", "value": {"name": name}}
        for name in rewrite.add_pull_secrets
    ]
    value = json.dumps(rewrite.originals, sort_keys=True)
    # Adding /metadata/annotations whole would replace the annotations the workload has.
    if rewrite.workload.annotated or rewrite.workload.annotations:
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


def needed_pull_secrets(
    spec: ClusterImageBackupSpec,
    backup_name: str,
    workload: WorkloadInfo,
    vouched: Collection[str],
) -> set[str]:
    """The backup's pull Secrets a workload's namespace needs: one per scope of its images.

    Those are the images it runs, or will run, from the backup registry.
    Its originals annotation says which images it ran, but tenants can write it: it counts
    only in `vouched` namespaces, those the backup's status says it gave a Secret already.
    Either way a private scope's Secret goes only where its entry lists (wanted_of).
    """
    images = [c.image for c in workload.containers]
    if workload.namespace in vouched:
        images += list(originals(workload).values())
    needed: set[str] = set()
    for image in images:
        try:
            ref = source_of(spec, image, workload.namespace)
        except InvalidReference:
            continue
        if ref is not None:
            needed.add(scope_of(spec, backup_name, ref.host).secret)
    return needed


def pull_secret_targets(
    spec: ClusterImageBackupSpec,
    backup_name: str,
    workloads: Iterable[WorkloadInfo],
    vouched: Collection[str],
) -> dict[str, list[str]]:
    """The namespaces each of the backup's pull Secrets goes to.

    Empty: the Secret goes nowhere, its scope having no pull credentials to hand out.
    """
    all_scopes = scopes(spec, backup_name)
    targets: dict[str, set[str]] = {s.secret: set() for s in all_scopes}
    handed_out = {s.secret for s in all_scopes if s.credentials is not None}
    for workload in workloads:
        for secret in needed_pull_secrets(spec, backup_name, workload, vouched):
            if secret in handed_out:
                targets[secret].add(workload.namespace)
        # A workload rewritten by this backup keeps the public Secret as it did before
        # backups had scopes (its annotation, in a namespace the status vouches for).
        if originals(workload) and workload.namespace in vouched and all_scopes[0].credentials:
            targets[all_scopes[0].secret].add(workload.namespace)
    return {secret: sorted(namespaces) for secret, namespaces in targets.items()}


def pull_secret_managers(
    backup_name: str,
    backup_uid: str,
    spec: ClusterImageBackupSpec,
    targets: Mapping[str, Iterable[str]],
) -> list[dict[str, Any]]:
    """The ClusterImagePullSecretManagers of a backup, one per scope (the public one first)."""
    return [
        _scope_manager(backup_name, backup_uid, spec, scope, targets.get(scope.secret, ()))
        for scope in scopes(spec, backup_name)
    ]


def pull_secret_manager(
    backup_name: str, backup_uid: str, spec: ClusterImageBackupSpec, namespaces: Iterable[str]
) -> dict[str, Any]:
    """The ClusterImagePullSecretManager that gives `namespaces` the public pull Secret."""
    return _scope_manager(backup_name, backup_uid, spec, scopes(spec, backup_name)[0], namespaces)


def _scope_manager(
    backup_name: str,
    backup_uid: str,
    spec: ClusterImageBackupSpec,
    scope: Scope,
    namespaces: Iterable[str],
) -> dict[str, Any]:
    """The ClusterImagePullSecretManager that gives `namespaces` a scope's pull Secret.

    ServiceAccount mode: the existing manager and ServiceAccount controllers do the rest. It
    is owned by the backup, so Kubernetes deletes it (and cheiron its Secrets) with it.
    """
    name = scope.secret
    registry = spec.registry
    credentials = scope.credentials
    entry = ClusterSecretEntry(
        name=name,
        registry=scope.registry_key(registry.host),
        # A placeholder where the scope has none: a manager needs one, and targets nobody.
        credentials_secret_ref=credentials or registry.credentials_secret_ref,
    )
    # Without credentials to hand out, the manager targets no namespace at all; a private
    # scope's only namespaces its entry lists.
    entitled = scope.namespaces
    targets = (
        sorted(n for n in set(namespaces) if entitled is None or n in entitled)
        if credentials is not None
        else []
    )
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
    """What admission changes in a Pod being created: images, and the pull Secrets to list."""

    changes: tuple[ContainerRewrite, ...]
    pull_secrets: tuple[str, ...]

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

    Only verified backups, only in namespaces that already hold the pull Secret of the
    backup's scope, never for opted-out Pods, workloads or namespaces. Images without a
    backup stay as they are: unlike a workload, a Pod is not rolled out again, so a partial
    rewrite costs nothing.
    """
    if is_ignored(pod.annotations) or pod_opted_out(pod.labels, pod.namespace, workloads):
        return None
    present = set(secrets_present)
    for backup in backups:
        spec = backup.spec
        if (
            backup.deleting
            or spec.rewrite is not Rewrite.PODS
            or pod.namespace not in backup.namespaces
            or not namespace_selected(spec, namespace, operator_namespace)
        ):
            continue
        records = {r.source: r for r in backup.images}
        changes, _complete = rewrites_for(spec, backup.name, pod.containers, records, pod.namespace)
        changes = [c for c in changes if c.secret in present]
        if changes:
            return PodRewrite(tuple(changes), tuple(sorted({c.secret for c in changes})))
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
        # The ServiceAccount's secrets were merged before this webhook runs, or the Pod
        # lists its own and so never gets them: either way, list the backup's here.
        pull_secrets += [s for s in rewrite.pull_secrets if s not in pull_secrets]
        annotations[BACKUP_ORIGINALS] = json.dumps(rewrite.originals, sort_keys=True)
    patch_spec["imagePullSecrets"] = [{"name": name} for name in pull_secrets]
    return {"spec": patch_spec, "metadata": {"annotations": annotations}}
