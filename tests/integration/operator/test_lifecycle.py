"""Opt-out, finalizer and deletion cleanup, concurrent writers: cheiron removes only its own."""

import threading
from pathlib import Path

from kubernetes import client
from kubernetes.client.rest import ApiException

from cheiron import API_GROUP, API_VERSION
from cheiron.api.meta import ADDED, FINALIZER, IGNORE, RECONCILABLE, RECONCILE_WITH, RECONCILED
from cheiron.devcluster import ControlPlane
from tests.support.managers import (
    create_manager,
    delete_manager,
    get_manager,
    inline,
    manager_body,
    pull_secrets,
    wait_for_pull_secrets,
)
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually, gone


def _account(
    name: str, own: list[str], annotations: dict[str, str] | None = None
) -> client.V1ServiceAccount:
    return client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name=name, annotations=annotations),
        image_pull_secrets=[client.V1LocalObjectReference(name=n) for n in own],
    )


def test_ignored_accounts_and_late_opt_out(
    operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    core.create_namespaced_service_account(namespace, _account("quiet", ["own"], {IGNORE: "true"}))
    core.create_namespaced_service_account(namespace, _account("app", ["own"]))
    create_manager(custom, namespace, manager_body("m", [inline("a")]))
    wait_for_pull_secrets(core, namespace, ["own", "a"], account="app")

    quiet = core.read_namespaced_service_account("quiet", namespace)
    assert [r.name for r in quiet.image_pull_secrets] == ["own"]
    assert not any(
        k.startswith("cheiron.anny.co/") and k != IGNORE for k in quiet.metadata.annotations
    )

    core.patch_namespaced_service_account(
        "app", namespace, {"metadata": {"annotations": {IGNORE: "true"}}}
    )
    wait_for_pull_secrets(core, namespace, ["own"], account="app")
    annotations = core.read_namespaced_service_account("app", namespace).metadata.annotations
    assert set(annotations) == {IGNORE}


def test_ignored_namespace_is_left_alone(
    operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    core.patch_namespace(namespace, {"metadata": {"annotations": {IGNORE: "true"}}})
    create_manager(custom, namespace, manager_body("m", [inline("a")]))

    def degraded_or_idle() -> bool:
        manager = custom.get_namespaced_custom_object(
            API_GROUP, API_VERSION, namespace, "imagepullsecretmanagers", "m"
        )
        return (manager.get("status") or {}).get("targetNamespaces") == 0

    eventually(degraded_or_idle, what="manager with no target")
    assert pull_secrets(core, namespace) == []
    assert "a" not in [s.metadata.name for s in core.list_namespaced_secret(namespace).items]


def test_deleting_the_manager_removes_only_what_cheiron_added(
    operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    core.create_namespaced_service_account(namespace, _account("app", ["own", "shared"]))
    create_manager(custom, namespace, manager_body("m", [inline("a"), inline("shared", "quay.io")]))
    wait_for_pull_secrets(core, namespace, ["own", "shared", "a"], account="app")
    assert core.read_namespaced_service_account("app", namespace).metadata.annotations[ADDED] == "a"

    delete_manager(custom, namespace, "m")
    # "shared" was the user's before cheiron listed it: it stays.
    wait_for_pull_secrets(core, namespace, ["own", "shared"], account="app")
    annotations = core.read_namespaced_service_account("app", namespace).metadata.annotations or {}
    assert not {RECONCILABLE, RECONCILE_WITH, RECONCILED, ADDED} & set(annotations)
    eventually(gone(lambda: core.read_namespaced_secret("a", namespace)), what="Secret a deleted")


def test_concurrent_writer_loses_nothing(
    operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    core.create_namespaced_service_account(namespace, _account("busy", ["u0"]))
    user_entries = [f"u{i}" for i in range(1, 16)]

    def user_appends() -> None:
        # Another tool appending one entry at a time, with optimistic concurrency of its own.
        for name in user_entries:
            while True:
                sa = core.read_namespaced_service_account("busy", namespace)
                sa.image_pull_secrets = [
                    *(sa.image_pull_secrets or []),
                    client.V1LocalObjectReference(name=name),
                ]
                try:
                    core.replace_namespaced_service_account("busy", namespace, sa)
                    break
                except ApiException as e:
                    if e.status != 409:
                        raise

    writer = threading.Thread(target=user_appends)
    writer.start()
    create_manager(custom, namespace, manager_body("m", [inline("a"), inline("b", "quay.io")]))
    writer.join(timeout=60)
    assert not writer.is_alive()
    wait_for_pull_secrets(core, namespace, ["u0", *user_entries, "a", "b"], account="busy")
    final = pull_secrets(core, namespace, "busy")
    assert len(final) == len(set(final))


OTHER_FINALIZER = "example.com/keep"


def _finalizers(custom: client.CustomObjectsApi, namespace: str, name: str) -> list[str]:
    return list(get_manager(custom, namespace, name)["metadata"].get("finalizers") or [])


def test_another_controllers_finalizer_outlives_the_cleanup(
    operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    body = manager_body("m", [inline("a")])
    body["metadata"]["finalizers"] = [OTHER_FINALIZER]
    create_manager(custom, namespace, body)
    wait_for_pull_secrets(core, namespace, ["a"])
    eventually(
        lambda: _finalizers(custom, namespace, "m") == [OTHER_FINALIZER, FINALIZER],
        what="cheiron's finalizer added after the other one",
    )

    custom.delete_namespaced_custom_object(
        API_GROUP, API_VERSION, namespace, "imagepullsecretmanagers", "m"
    )
    # Cleaned up and released by cheiron; held by the other controller.
    wait_for_pull_secrets(core, namespace, [])
    eventually(gone(lambda: core.read_namespaced_secret("a", namespace)), what="Secret a deleted")
    eventually(
        lambda: _finalizers(custom, namespace, "m") == [OTHER_FINALIZER],
        what="only cheiron's finalizer removed",
    )
    assert get_manager(custom, namespace, "m")["metadata"].get("deletionTimestamp")

    custom.patch_namespaced_custom_object(
        API_GROUP,
        API_VERSION,
        namespace,
        "imagepullsecretmanagers",
        "m",
        {"metadata": {"finalizers": None}},
    )
    eventually(gone(lambda: get_manager(custom, namespace, "m")), what="manager gone")


def test_a_manager_deleted_while_the_operator_is_down_is_cleaned_up_at_start(
    *,
    control_plane: ControlPlane,
    crds: None,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
    tmp_path: Path,
) -> None:
    with OperatorProcess(control_plane.kubeconfig_path, tmp_path / "first.log"):
        create_manager(custom, namespace, manager_body("m", [inline("a")]))
        wait_for_pull_secrets(core, namespace, ["a"])
        eventually(lambda: FINALIZER in _finalizers(custom, namespace, "m"), what="finalizer added")
    custom.delete_namespaced_custom_object(
        API_GROUP, API_VERSION, namespace, "imagepullsecretmanagers", "m"
    )
    # Held by the finalizer while no operator runs: nothing was cleaned up.
    assert get_manager(custom, namespace, "m")["metadata"].get("deletionTimestamp")
    assert pull_secrets(core, namespace) == ["a"]

    with OperatorProcess(control_plane.kubeconfig_path, tmp_path / "second.log"):
        eventually(gone(lambda: get_manager(custom, namespace, "m")), what="manager released")
        wait_for_pull_secrets(core, namespace, [])
        eventually(
            gone(lambda: core.read_namespaced_secret("a", namespace)), what="Secret a deleted"
        )
