"""Which workloads and images a backup covers, and when a workload may be rewritten."""

import json
from collections.abc import Mapping

import pytest
from pydantic import ValidationError

from cheiron.api.meta import BACKUP_ORIGINALS, IGNORE
from cheiron.api.models import BackedUpImage, ClusterImageBackupSpec, ImageState, Rewrite
from cheiron.api.observed import (
    BackupInfo,
    ContainerImage,
    ManagerKind,
    NamespaceInfo,
    WorkloadInfo,
    manager_info,
    workload_info,
)
from cheiron.images.rules import (
    PodFacts,
    PodRewrite,
    WorkloadRewrite,
    admit_pod,
    merge_records,
    needed_pull_secrets,
    plan_rewrite,
    pod_opted_out,
    pull_credentials,
    pull_secret_manager,
    pull_secret_managers,
    pull_secret_targets,
    rewrite_operations,
    rewrites_for,
    wanted_images,
    workload_selected,
)

DIGEST = "sha256:" + "cd" * 32
SPEC = ClusterImageBackupSpec.model_validate(
    {
        "registry": {
            "host": "bk.io:5000",
            "prefix": "mirror",
            "credentialsSecretRef": {"name": "push", "namespace": "cheiron-system"},
            "pullCredentialsSecretRef": {"name": "pull", "namespace": "cheiron-system"},
        },
        "excludeNamespaces": ["skip"],
    }
)
NAMESPACES = {n: NamespaceInfo(n) for n in ("team", "skip", "kube-system", "cheiron-system")} | {
    "quiet": NamespaceInfo("quiet", annotations={IGNORE: "true"})
}


def _workload(
    *images: str,
    kind: str = "Deployment",
    namespace: str = "team",
    annotations: dict[str, str] | None = None,
    pull_secrets: tuple[str, ...] = (),
) -> WorkloadInfo:
    return WorkloadInfo(
        kind,
        namespace,
        "app",
        annotations=annotations or {},
        containers=tuple(
            ContainerImage("containers", i, f"c{i}", image) for i, image in enumerate(images)
        ),
        pull_secrets=pull_secrets,
        selector={"app": "web"},
    )


def test_workload_info_reads_init_containers_and_template() -> None:
    body = {
        "metadata": {"name": "w", "namespace": "ns", "uid": "u"},
        "spec": {
            "selector": {"matchLabels": {"app": "w"}},
            "template": {
                "spec": {
                    "serviceAccountName": "robot",
                    "imagePullSecrets": [{"name": "own"}],
                    "initContainers": [{"name": "init", "image": "busybox"}],
                    "containers": [{"name": "main", "image": "nginx"}],
                }
            },
        },
    }
    info = workload_info("Deployment", body)
    assert [(c.field, c.index, c.image) for c in info.containers] == [
        ("initContainers", 0, "busybox"),
        ("containers", 0, "nginx"),
    ]
    assert (info.service_account, info.pull_secrets, info.selector) == (
        "robot",
        ("own",),
        {"app": "w"},
    )


def test_selection_excludes_system_own_excluded_and_opted_out() -> None:
    def selected(w: WorkloadInfo) -> bool:
        return workload_selected(SPEC, w, NAMESPACES, "cheiron-system")

    assert selected(_workload("nginx"))
    assert selected(_workload("nginx", kind="StatefulSet"))
    for namespace in ("skip", "kube-system", "cheiron-system", "quiet", "missing"):
        assert not selected(_workload("nginx", namespace=namespace)), namespace
    assert not selected(_workload("nginx", annotations={IGNORE: "true"}))
    deployments_only = SPEC.model_copy(update={"workload_kinds": ["Deployment"]})
    assert not workload_selected(
        deployments_only, _workload("x", kind="DaemonSet"), NAMESPACES, "cheiron-system"
    )


def test_wanted_images_skip_backups_and_report_invalid() -> None:
    backed = f"bk.io:5000/mirror/docker.io/library/nginx:1@{DIGEST}"
    workloads = [
        _workload("nginx:1", "ghcr.io/org/app@" + DIGEST, "Bad"),
        _workload(backed, annotations={BACKUP_ORIGINALS: json.dumps({"containers/0": "redis"})}),
    ]
    wanted, invalid = wanted_images(SPEC, workloads)
    assert sorted(wanted) == [
        "docker.io/library/nginx:1",
        "docker.io/library/redis:latest",
        f"ghcr.io/org/app@{DIGEST}",
    ]
    assert wanted["docker.io/library/nginx:1"].repository == (
        "bk.io:5000/mirror/docker.io/library/nginx"
    )
    assert list(invalid) == ["Bad"]
    records = merge_records(wanted, [BackedUpImage(source="gone:1", state=ImageState.FAILED)])
    assert set(records) == set(wanted)
    assert records[f"ghcr.io/org/app@{DIGEST}"].digest == DIGEST
    assert all(r.state is ImageState.PENDING for r in records.values())


def _records(state: ImageState) -> dict[str, BackedUpImage]:
    backup = f"bk.io:5000/mirror/docker.io/library/nginx:1@{DIGEST}"
    return {
        "docker.io/library/nginx:1": BackedUpImage(
            source="docker.io/library/nginx:1",
            state=state,
            digest=DIGEST,
            backup=backup if state is ImageState.BACKED_UP else None,
        )
    }


def _plan(
    workload: WorkloadInfo,
    records: dict[str, BackedUpImage],
    *,
    present: bool = True,
    listed: bool = True,
) -> WorkloadRewrite | None:
    return plan_rewrite(
        SPEC,
        "b",
        workload,
        records,
        secrets_present=("backup-b",) if present else (),
        account_secrets=("backup-b",) if listed else (),
    )


def test_rewrite_waits_for_verified_copies_and_credentials() -> None:
    workload = _workload("nginx:1")
    for state in (ImageState.PENDING, ImageState.COPYING, ImageState.FAILED):
        assert _plan(workload, _records(state)) is None
    ready = _records(ImageState.BACKED_UP)
    assert _plan(workload, ready, present=False) is None
    assert _plan(workload, ready, listed=False) is None
    rewrite = _plan(workload, ready)
    assert rewrite is not None
    assert [c.image for c in rewrite.changes] == [ready["docker.io/library/nginx:1"].backup]
    assert rewrite.originals == {"containers/0": "nginx:1"}
    assert rewrite.add_pull_secrets == ()


def test_one_unfinished_image_holds_back_the_whole_workload() -> None:
    assert _plan(_workload("nginx:1", "redis:7"), _records(ImageState.BACKED_UP)) is None


def test_own_pull_secrets_get_the_backup_secret_appended() -> None:
    workload = _workload("nginx:1", pull_secrets=("mine",))
    rewrite = _plan(workload, _records(ImageState.BACKED_UP), listed=False)
    assert rewrite is not None
    assert rewrite.add_pull_secrets == ("backup-b",)


def test_already_rewritten_workload_needs_nothing() -> None:
    backed = f"bk.io:5000/mirror/docker.io/library/nginx:1@{DIGEST}"
    assert _plan(_workload(backed), {}) is None


def test_pods_of_opted_out_workloads() -> None:
    quiet = _workload("nginx", annotations={IGNORE: "true"})
    assert pod_opted_out({"app": "web", "x": "y"}, "team", [quiet])
    assert not pod_opted_out({"app": "other"}, "team", [quiet])
    assert not pod_opted_out({"app": "web"}, "elsewhere", [quiet])
    assert not pod_opted_out({"app": "web"}, "team", [_workload("nginx")])


def _backup(rewrite: str = "Pods", namespaces: tuple[str, ...] = ("team",)) -> BackupInfo:
    spec = SPEC.model_copy(update={"rewrite": Rewrite(rewrite)})
    return BackupInfo(
        "b",
        "uid",
        1,
        spec,
        images=tuple(_records(ImageState.BACKED_UP).values()),
        namespaces=namespaces,
    )


def _admit(
    backup: BackupInfo,
    *,
    annotations: dict[str, str] | None = None,
    secrets: tuple[str, ...] = ("backup-b",),
    workloads: tuple[WorkloadInfo, ...] = (),
) -> PodRewrite | None:
    pod = PodFacts(
        "team",
        (
            ContainerImage("containers", 0, "a", "nginx:1"),
            ContainerImage("containers", 1, "b", "redis:7"),
        ),
        {"app": "web"},
        annotations or {},
    )
    return admit_pod(
        [backup],
        pod,
        namespace=NAMESPACES["team"],
        workloads=workloads,
        secrets_present=secrets,
        operator_namespace="cheiron-system",
    )


def test_pod_admission_rewrites_verified_images_only() -> None:
    rewrite = _admit(_backup())
    assert rewrite is not None
    assert [(c.container.name, c.image) for c in rewrite.changes] == [
        ("a", f"bk.io:5000/mirror/docker.io/library/nginx:1@{DIGEST}")
    ]
    assert rewrite.pull_secrets == ("backup-b",)
    assert rewrite.originals == {"containers/0": "nginx:1"}


def test_pod_admission_leaves_pods_alone_when_it_must() -> None:
    assert _admit(_backup("Workloads")) is None
    assert _admit(_backup(namespaces=())) is None
    assert _admit(_backup(), secrets=()) is None
    assert _admit(_backup(), annotations={IGNORE: "true"}) is None
    quiet = _workload("nginx:1", annotations={IGNORE: "true"})
    assert _admit(_backup(), workloads=(quiet,)) is None


def test_pull_secret_manager_spec_reads_back_unchanged() -> None:
    # The backup controller skips applying its manager when the watched one dumps to this
    # spec: a spec that read back differently would be applied again on every pass.
    manager = pull_secret_manager("nightly", "uid-1", SPEC, ["team", "a-team", "team"])
    manager["metadata"]["uid"] = "uid-2"
    watched = manager_info(ManagerKind.CLUSTER, manager)
    assert (
        watched.spec.model_dump(by_alias=True, exclude_none=True, mode="json") == (manager["spec"])
    )
    assert manager["spec"]["target"]["namespaces"]["names"] == ["a-team", "team"]


def test_push_credentials_reach_namespaces_only_when_the_admin_shares_them() -> None:
    registry = SPEC.registry.model_dump(by_alias=True, exclude_none=True)
    push_only = {k: v for k, v in registry.items() if k != "pullCredentialsSecretRef"}
    unshared = ClusterImageBackupSpec.model_validate({"registry": push_only})
    shared = ClusterImageBackupSpec.model_validate(
        {"registry": {**push_only, "sharePushCredentials": True}}
    )
    assert pull_credentials(SPEC) is SPEC.registry.pull_credentials_secret_ref
    assert pull_credentials(unshared) is None
    assert pull_credentials(shared) is shared.registry.credentials_secret_ref
    # Without credentials to hand out the manager targets nothing, whatever is asked.
    manager = pull_secret_manager("nightly", "uid-1", unshared, ["team"])
    assert manager["spec"]["target"]["namespaces"]["names"] == []
    entry = pull_secret_manager("nightly", "uid-1", SPEC, ["team"])["spec"]["secrets"][0]
    assert entry["credentialsSecretRef"]["name"] == "pull"


def test_a_tenants_originals_annotation_alone_earns_no_pull_secret() -> None:
    backed = f"bk.io:5000/mirror/docker.io/library/nginx:1@{DIGEST}"
    claimed = _workload(
        backed, namespace="other", annotations={BACKUP_ORIGINALS: '{"containers/0": "x"}'}
    )

    def targets(w: WorkloadInfo, vouched: set[str]) -> list[str]:
        return pull_secret_targets(SPEC, "b", [w], vouched)["backup-b"]

    # Written by a tenant: cheiron never gave this namespace the Secret.
    assert targets(claimed, vouched={"team"}) == []
    # Rewritten by the backup itself: its namespace is in status, and keeps the Secret.
    assert targets(claimed, vouched={"other"}) == ["other"]
    # A workload whose image the backup covers needs it for the rewrite to come.
    assert targets(_workload("nginx:1", namespace="other"), vouched=set()) == ["other"]


PRIVATE_ENTRY = {
    "registry": "private.io",
    "credentialsSecretRef": {"name": "read", "namespace": "ops"},
    "namespaces": ["team"],
}
SCOPED = {"backupPullCredentialsSecretRef": {"name": "payroll-pull", "namespace": "ops"}}
PRIVATE_IMAGE = f"private.io/secret/app@{DIGEST}"
PRIVATE_REPO = "bk.io:5000/mirror/private/private.io/secret/app"


def _with_sources(
    *entries: Mapping[str, object], rewrite: str = "Workloads"
) -> ClusterImageBackupSpec:
    return ClusterImageBackupSpec.model_validate(
        {
            "registry": SPEC.registry.model_dump(by_alias=True, exclude_none=True),
            "sourceRegistries": list(entries),
            "rewrite": rewrite,
        }
    )


def _private_records(backup: str = f"{PRIVATE_REPO}@{DIGEST}") -> dict[str, BackedUpImage]:
    return {
        PRIVATE_IMAGE: BackedUpImage(
            source=PRIVATE_IMAGE, state=ImageState.BACKED_UP, digest=DIGEST, backup=backup
        )
    }


def test_private_source_images_are_backed_up_and_run_only_where_the_admin_allows() -> None:
    spec = _with_sources({**PRIVATE_ENTRY, **SCOPED})
    wanted, _ = wanted_images(spec, [_workload(PRIVATE_IMAGE, namespace="other")])
    assert wanted == {}
    wanted, _ = wanted_images(spec, [_workload(PRIVATE_IMAGE, namespace="team")])
    assert list(wanted) == [PRIVATE_IMAGE]
    # Backed up for `team`, the copy still never reaches `other`: not rewritten, no Secret.
    containers = [ContainerImage("containers", 0, "c", PRIVATE_IMAGE)]
    records = _private_records()
    assert rewrites_for(spec, "b", containers, records, "other") == ([], True)
    (change,), complete = rewrites_for(spec, "b", containers, records, "team")
    assert complete
    assert change.secret == "backup-b-private.io"
    other = _workload(PRIVATE_IMAGE, namespace="other")
    assert needed_pull_secrets(spec, "b", other, vouched=()) == set()


def test_private_backups_live_under_a_path_of_their_own() -> None:
    spec = _with_sources({**PRIVATE_ENTRY, **SCOPED}, {"registry": "ghcr.io", "insecure": True})
    wanted, _ = wanted_images(spec, [_workload(PRIVATE_IMAGE, "ghcr.io/org/app:1")])
    assert wanted[PRIVATE_IMAGE].repository == PRIVATE_REPO
    assert wanted[PRIVATE_IMAGE].private
    public = wanted["ghcr.io/org/app:1"]
    assert (public.repository, public.private) == ("bk.io:5000/mirror/ghcr.io/org/app", False)
    own = _with_sources({**PRIVATE_ENTRY, **SCOPED, "backupPrefix": "payroll-backups"})
    wanted, _ = wanted_images(own, [_workload(PRIVATE_IMAGE)])
    assert wanted[PRIVATE_IMAGE].repository == "bk.io:5000/payroll-backups/private.io/secret/app"


def test_a_record_backed_up_elsewhere_than_its_scope_is_copied_again() -> None:
    spec = _with_sources({**PRIVATE_ENTRY, **SCOPED})
    wanted, _ = wanted_images(spec, [_workload(PRIVATE_IMAGE)])
    flat = f"bk.io:5000/mirror/private.io/secret/app@{DIGEST}"
    (moved,) = merge_records(wanted, _private_records(flat).values()).values()
    assert (moved.state, moved.digest, moved.backup) == (ImageState.PENDING, DIGEST, None)
    (kept,) = merge_records(wanted, _private_records().values()).values()
    assert kept.state is ImageState.BACKED_UP


def test_each_scope_has_its_own_secret_for_its_own_namespaces() -> None:
    spec = _with_sources({**PRIVATE_ENTRY, **SCOPED})
    team = _workload(PRIVATE_IMAGE, "nginx:1", namespace="team")
    others = _workload("nginx:1", namespace="other")
    # `other` claims to have run the private image: the entry does not list it.
    claim = {BACKUP_ORIGINALS: json.dumps({"containers/0": PRIVATE_IMAGE})}
    claimer = _workload(f"{PRIVATE_REPO}@{DIGEST}", namespace="claims", annotations=claim)
    targets = pull_secret_targets(spec, "b", [team, others, claimer], vouched={"claims"})
    assert targets == {"backup-b": ["claims", "other", "team"], "backup-b-private.io": ["team"]}
    public, private = pull_secret_managers("b", "uid", spec, targets)
    (entry,) = private["spec"]["secrets"]
    assert entry["name"] == private["metadata"]["name"] == "backup-b-private.io"
    # The runtime tries this login on the scope's own backups only.
    assert entry["registry"] == "bk.io:5000/mirror/private/private.io"
    assert entry["credentialsSecretRef"]["name"] == "payroll-pull"
    assert private["spec"]["target"]["namespaces"]["names"] == ["team"]
    # Even asked to, a manager never targets a namespace its entry does not list.
    (_, forced) = pull_secret_managers("b", "uid", spec, {"backup-b-private.io": ["other"]})
    assert forced["spec"]["target"]["namespaces"]["names"] == []
    assert public["spec"]["secrets"][0]["registry"] == "bk.io:5000"


def test_a_scope_without_pull_credentials_is_handed_to_nobody_and_rewrites_nothing() -> None:
    spec = _with_sources(PRIVATE_ENTRY)
    team = _workload(PRIVATE_IMAGE, "nginx:1", namespace="team")
    targets = pull_secret_targets(spec, "b", [team], vouched=())
    assert targets == {"backup-b": ["team"], "backup-b-private.io": []}
    (_, private) = pull_secret_managers("b", "uid", spec, {"backup-b-private.io": ["team"]})
    assert private["spec"]["target"]["namespaces"]["names"] == []
    # The private image stays as it is; the public one is rewritten without waiting for it.
    records = _private_records() | _records(ImageState.BACKED_UP)
    changes, complete = rewrites_for(spec, "b", team.containers, records, "team")
    assert complete
    assert [c.container.image for c in changes] == ["nginx:1"]


def test_a_workload_with_private_and_public_images_needs_both_secrets() -> None:
    spec = _with_sources({**PRIVATE_ENTRY, **SCOPED})
    team = _workload(PRIVATE_IMAGE, "nginx:1", namespace="team", pull_secrets=("own",))
    records = _private_records() | _records(ImageState.BACKED_UP)

    def plan(present: tuple[str, ...]) -> WorkloadRewrite | None:
        return plan_rewrite(spec, "b", team, records, secrets_present=present, account_secrets=())

    assert plan(("backup-b",)) is None
    rewrite = plan(("backup-b", "backup-b-private.io"))
    assert rewrite is not None
    assert rewrite.add_pull_secrets == ("backup-b", "backup-b-private.io")


def test_pod_admission_needs_the_scope_secret_of_a_private_image() -> None:
    spec = _with_sources({**PRIVATE_ENTRY, **SCOPED}, rewrite="Pods")
    backup = BackupInfo("b", "uid", 1, spec, tuple(_private_records().values()), ("team",))
    pod = PodFacts("team", (ContainerImage("containers", 0, "a", PRIVATE_IMAGE),), {}, {})

    def admit(secrets: tuple[str, ...], namespace: str = "team") -> PodRewrite | None:
        return admit_pod(
            [backup],
            PodFacts(namespace, pod.containers, {}, {}),
            namespace=NamespaceInfo(namespace),
            workloads=(),
            secrets_present=secrets,
            operator_namespace="cheiron-system",
        )

    assert admit(("backup-b",)) is None
    rewrite = admit(("backup-b-private.io",))
    assert rewrite is not None
    assert rewrite.pull_secrets == ("backup-b-private.io",)
    # A Secret of that name made by a tenant elsewhere earns nothing: the entry decides.
    assert admit(("backup-b-private.io",), namespace="other") is None


def test_a_host_listed_twice_is_private_if_either_spelling_has_credentials() -> None:
    spec = _with_sources(
        {"registry": "docker.io", "insecure": True},
        {**PRIVATE_ENTRY, "registry": "index.docker.io"},
    )
    wanted, _ = wanted_images(spec, [_workload("org/secret:1", namespace="other")])
    assert wanted == {}
    wanted, _ = wanted_images(spec, [_workload("org/secret:1", namespace="team")])
    assert wanted["docker.io/org/secret:1"].private


def test_images_on_the_backup_host_are_never_copied() -> None:
    # Outside the prefix too: they would be read with the push credentials.
    wanted, _ = wanted_images(SPEC, [_workload("bk.io:5000/internal/app:1")])
    assert wanted == {}


def test_a_private_scope_is_only_for_a_credentialed_source_and_never_looks_like_a_host() -> None:
    with pytest.raises(ValidationError, match="for a source registry with credentialsSecretRef"):
        _with_sources({"registry": "ghcr.io", **SCOPED})
    # `<prefix>/docker.io` would be where public backups of docker.io go.
    for prefix in ("mirror/docker.io", "host_5000", "Upper", "mirror/localhost/x"):
        with pytest.raises(ValidationError, match="backupPrefix"):
            _with_sources({**PRIVATE_ENTRY, "backupPrefix": prefix})
    assert _with_sources({**PRIVATE_ENTRY, "backupPrefix": "mirror/private-payroll"})


def test_a_workload_keeps_only_cheirons_annotations_and_its_own_are_never_replaced() -> None:
    """A tenant's 256 KiB of annotations stay out of memory, and stay on the workload."""
    body = {
        "metadata": {
            "namespace": "team",
            "name": "web",
            "annotations": {"example.com/notes": "n" * 100_000, IGNORE: "false"},
        },
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
    }
    workload = workload_info("Deployment", body)
    assert workload.annotations == {IGNORE: "false"}
    foreign_only = workload_info(
        "Deployment", {**body, "metadata": {**body["metadata"], "annotations": {"a": "b"}}}
    )
    assert (foreign_only.annotations, foreign_only.annotated) == ({}, True)
    ops = rewrite_operations(WorkloadRewrite(foreign_only, ()))
    # One key added beside the others: never the whole /metadata/annotations, which replaces.
    assert ops[-1]["path"] == "/metadata/annotations/cheiron.anny.co~1backup-originals"
