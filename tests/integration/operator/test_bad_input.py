"""Broken references degrade one entry with a reason and an Event; the rest keep working."""

import base64

from kubernetes import client

from tests.support.managers import (
    create_manager,
    events_for,
    get_manager,
    inline,
    manager_body,
    ready_condition,
    wait_for_pull_secrets,
)
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually

SECRET_VALUE = "do-not-print-this-password"


def test_each_broken_entry_has_its_reason(
    operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="opaque"), string_data={"x": SECRET_VALUE}
        ),
    )
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="garbled"),
            type="kubernetes.io/dockerconfigjson",
            data={".dockerconfigjson": base64.b64encode(b'{"auths": 3}').decode()},
        ),
    )
    entries = [
        inline("good", password=SECRET_VALUE),
        {"existingSecretRef": {"name": "missing"}},
        {"existingSecretRef": {"name": "opaque"}},
        {"existingSecretRef": {"name": "garbled"}},
        {"name": "nokey", "registry": "quay.io", "credentialsSecretRef": {"name": "opaque"}},
    ]
    create_manager(custom, namespace, manager_body("m", entries))
    wait_for_pull_secrets(core, namespace, ["good"])

    def degraded() -> dict[str, object] | None:
        manager = get_manager(custom, namespace, "m")
        return manager if len((manager.get("status") or {}).get("entries", [])) == 5 else None

    manager = eventually(degraded, what="status with every entry")
    status = manager["status"]
    assert isinstance(status, dict)
    reasons = {e["name"]: e["reason"] for e in status["entries"]}
    assert reasons == {
        "good": "Resolved",
        "missing": "SecretNotFound",
        "opaque": "WrongSecretType",
        "garbled": "MalformedDockerConfig",
        "nokey": "KeyNotFound",
    }
    condition = ready_condition(manager)
    assert condition is not None
    assert condition["status"] == "False"
    assert condition["reason"] == "SecretNotFound"
    assert status["secrets"] == ["good"]
    assert SECRET_VALUE not in str(status)

    warning = eventually(
        lambda: [e for e in events_for(core, namespace, "m") if e.type == "Warning"],
        what="a Warning event on the manager",
    )
    assert any("missing" in e.message for e in warning)
    assert all(SECRET_VALUE not in (e.message or "") for e in events_for(core, namespace, "m"))
    # Nothing the user created was touched.
    assert core.read_namespaced_secret("opaque", namespace).type == "Opaque"
    assert core.read_namespaced_secret("garbled", namespace).metadata.labels is None
    assert SECRET_VALUE not in operator.logs()


def test_foreign_secret_is_never_overwritten(
    operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    foreign = core.create_namespaced_secret(
        namespace,
        client.V1Secret(metadata=client.V1ObjectMeta(name="hub"), string_data={"mine": "yes"}),
    )
    create_manager(custom, namespace, manager_body("m", [inline("hub", "docker.io"), inline("gh")]))
    wait_for_pull_secrets(core, namespace, ["gh"])

    def conflict() -> dict[str, object] | None:
        condition = ready_condition(get_manager(custom, namespace, "m"))
        return condition if condition and condition["reason"] == "SecretConflict" else None

    condition = eventually(conflict, what="SecretConflict")
    assert "hub" in str(condition["message"])
    after = core.read_namespaced_secret("hub", namespace)
    assert after.metadata.resource_version == foreign.metadata.resource_version
    assert after.type == "Opaque"
