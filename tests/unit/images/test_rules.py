"""Which workloads and images a backup covers, and when a workload may be rewritten."""

import json

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
    needs_pull_secret,
    plan_rewrite,
    pod_opted_out,
    pull_credentials,
    pull_secret_manager,
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
        workload,
        records,
        secret_name="backup-b",
        secret_present=present,
        account_lists_secret=listed,
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
    assert rewrite.add_pull_secret is None


def test_one_unfinished_image_holds_back_the_whole_workload() -> None:
    assert _plan(_workload("nginx:1", "redis:7"), _records(ImageState.BACKED_UP)) is None


def test_own_pull_secrets_get_the_backup_secret_appended() -> None:
    workload = _workload("nginx:1", pull_secrets=("mine",))
    rewrite = _plan(workload, _records(ImageState.BACKED_UP), listed=False)
    assert rewrite is not None
    assert rewrite.add_pull_secret == "backup-b"


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
    assert rewrite.pull_secret == "backup-b"
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
    # Written by a tenant: cheiron never gave this namespace the Secret.
    assert not needs_pull_secret(SPEC, claimed, vouched={"team"})
    # Rewritten by the backup itself: its namespace is in status, and keeps the Secret.
    assert needs_pull_secret(SPEC, claimed, vouched={"other"})
    # A workload whose image the backup covers needs it for the rewrite to come.
    assert needs_pull_secret(SPEC, _workload("nginx:1", namespace="other"), vouched=())


def test_private_source_images_are_backed_up_and_run_only_where_the_admin_allows() -> None:
    spec = SPEC.model_copy(
        update={
            "source_registries": ClusterImageBackupSpec.model_validate(
                {
                    "registry": SPEC.registry.model_dump(by_alias=True, exclude_none=True),
                    "sourceRegistries": [
                        {
                            "registry": "private.io",
                            "credentialsSecretRef": {"name": "read", "namespace": "ops"},
                            "namespaces": ["team"],
                        }
                    ],
                }
            ).source_registries
        }
    )
    image = f"private.io/secret/app@{DIGEST}"
    wanted, _ = wanted_images(spec, [_workload(image, namespace="other")])
    assert wanted == {}
    wanted, _ = wanted_images(spec, [_workload(image, namespace="team")])
    assert list(wanted) == [image]
    # Backed up for `team`, the copy still never reaches `other`: not rewritten, no Secret.
    records = {
        image: BackedUpImage(
            source=image, state=ImageState.BACKED_UP, digest=DIGEST, backup="bk.io:5000/x"
        )
    }
    containers = [ContainerImage("containers", 0, "c", image)]
    assert rewrites_for(spec, containers, records, "other") == ([], True)
    assert len(rewrites_for(spec, containers, records, "team")[0]) == 1
    assert not needs_pull_secret(spec, _workload(image, namespace="other"), vouched=())
