"""Changes propagate by watch: new ServiceAccounts, rotated passwords, removed entries."""

import time

from kubernetes import client

from tests.support.managers import (
    create_manager,
    docker_config,
    events_for,
    inline,
    manager_body,
    pull_secrets,
    set_secrets,
    wait_for_pull_secrets,
)
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually


def _payload(core: client.CoreV1Api, namespace: str, name: str) -> dict[str, object]:
    return docker_config(core.read_namespaced_secret(name, namespace))


def _password(core: client.CoreV1Api, namespace: str, name: str, registry: str) -> str:
    auths = _payload(core, namespace, name)["auths"]
    assert isinstance(auths, dict)
    return str(auths[registry]["password"])


def test_new_service_account_is_patched_quickly(
    operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    create_manager(custom, namespace, manager_body("m", [inline("hub", "docker.io")]))
    wait_for_pull_secrets(core, namespace, ["hub"])

    start = time.monotonic()
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="late"))
    )
    wait_for_pull_secrets(core, namespace, ["hub"], account="late")
    # A watch, not a poll: well inside the manager's resync period (600 s).
    assert time.monotonic() - start < 10


def test_rotated_password_updates_the_secret_in_place(
    operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    create_manager(custom, namespace, manager_body("m", [inline("gh", password="old")]))
    wait_for_pull_secrets(core, namespace, ["gh"])
    uid = core.read_namespaced_secret("gh", namespace).metadata.uid

    set_secrets(custom, namespace, "m", [inline("gh", password="new")])
    eventually(
        lambda: _password(core, namespace, "gh", "ghcr.io") == "new", what="password rotated"
    )
    assert core.read_namespaced_secret("gh", namespace).metadata.uid == uid


def test_removed_entry_goes_and_user_entries_stay(
    operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    core.create_namespaced_service_account(
        namespace,
        client.V1ServiceAccount(
            metadata=client.V1ObjectMeta(name="app"),
            image_pull_secrets=[client.V1LocalObjectReference(name="users-own")],
        ),
    )
    create_manager(custom, namespace, manager_body("m", [inline("a"), inline("b", "quay.io")]))
    wait_for_pull_secrets(core, namespace, ["users-own", "a", "b"], account="app")

    set_secrets(custom, namespace, "m", [inline("a")])
    wait_for_pull_secrets(core, namespace, ["users-own", "a"], account="app")
    assert pull_secrets(core, namespace, "app")[0] == "users-own"
    # One counted Event per namespace and change, about the namespace, naming the account.
    updated = eventually(
        lambda: [
            e
            for e in events_for(core, namespace, namespace)
            if e.reason == "PullSecretsUpdated" and "removed imagePullSecrets b" in e.message
        ],
        what="PullSecretsUpdated Event",
    )
    assert updated[0].involved_object.kind == "Namespace"
    # Both accounts changed at once: one Event counts them.
    assert updated[0].message.startswith("2 ServiceAccounts (app, default)")
    assert updated[0].count == 2

    def b_deleted() -> bool:
        return "b" not in [s.metadata.name for s in core.list_namespaced_secret(namespace).items]

    eventually(b_deleted, what="Secret b deleted")


def test_changed_credentials_secret_propagates(
    operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="creds"),
            string_data={"username": "robot", "password": "first"},
        ),
    )
    entry = {
        "name": "gl",
        "registry": "registry.gitlab.com",
        "credentialsSecretRef": {"name": "creds"},
    }
    create_manager(custom, namespace, manager_body("m", [entry]))
    wait_for_pull_secrets(core, namespace, ["gl"])
    assert _password(core, namespace, "gl", "registry.gitlab.com") == "first"

    core.patch_namespaced_secret("creds", namespace, {"stringData": {"password": "second"}})
    eventually(
        lambda: _password(core, namespace, "gl", "registry.gitlab.com") == "second",
        timeout=10,
        what="referenced Secret change propagated",
    )
