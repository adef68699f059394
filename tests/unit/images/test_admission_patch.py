"""The Pod webhook's patch, from the pull-secret decision and the backup rewrite (pure)."""

import json

from cheiron.api.meta import BACKUP_ORIGINALS, RECONCILED
from cheiron.api.observed import ContainerImage
from cheiron.images.rules import ContainerRewrite, PodRewrite, pod_admission_patch

SPEC = {
    "imagePullSecrets": [{"name": "own"}],
    "initContainers": [{"name": "init", "image": "busybox"}],
    "containers": [{"name": "app", "image": "ghcr.io/x/app:1"}, {"name": "side", "image": "nginx"}],
}
DECISION = (("own", "managed"), {RECONCILED: "true"})
REWRITE = PodRewrite(
    (
        ContainerRewrite(
            ContainerImage("containers", 1, "side", "nginx"),
            "backup.test/docker.io/nginx@sha256:1",
            "backup-pull",
        ),
    ),
    ("backup-pull",),
)


def test_nothing_to_do_leaves_the_pod_alone() -> None:
    assert pod_admission_patch(SPEC, None, None) is None


def test_pull_secrets_only() -> None:
    patch = pod_admission_patch(SPEC, DECISION, None)
    assert patch == {
        "spec": {"imagePullSecrets": [{"name": "own"}, {"name": "managed"}]},
        "metadata": {"annotations": {RECONCILED: "true"}},
    }


def test_backup_rewrite_only_keeps_the_pods_own_secrets_and_adds_the_backups() -> None:
    patch = pod_admission_patch(SPEC, None, REWRITE)
    assert patch is not None
    assert patch["spec"]["imagePullSecrets"] == [{"name": "own"}, {"name": "backup-pull"}]
    assert [c["image"] for c in patch["spec"]["containers"]] == [
        "ghcr.io/x/app:1",
        "backup.test/docker.io/nginx@sha256:1",
    ]
    # Untouched lists are still sent whole (a JSON patch of the list), never emptied.
    assert patch["spec"]["initContainers"] == SPEC["initContainers"]
    originals = json.loads(patch["metadata"]["annotations"][BACKUP_ORIGINALS])
    assert originals == {"containers/1": "nginx"}
    assert SPEC["containers"][1]["image"] == "nginx", "the request body was modified"


def test_both_list_the_backup_secret_once() -> None:
    decision = (("own", "managed", "backup-pull"), {RECONCILED: "true"})
    patch = pod_admission_patch(SPEC, decision, REWRITE)
    assert patch is not None
    names = [r["name"] for r in patch["spec"]["imagePullSecrets"]]
    assert names == ["own", "managed", "backup-pull"]
    assert set(patch["metadata"]["annotations"]) == {RECONCILED, BACKUP_ORIGINALS}
