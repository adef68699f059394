"""target.secret: every credential in one Secret, deterministic, earlier entry wins."""

import base64
import json

from kubernetes import client

from tests.support.managers import (
    create_manager,
    get_manager,
    inline,
    manager_body,
    patch_spec,
    ready_condition,
    set_secrets,
    wait_for_pull_secrets,
)
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually, gone


def test_merged_secret(
    operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="quay-existing"),
            type="kubernetes.io/dockerconfigjson",
            string_data={
                ".dockerconfigjson": '{"auths":{"quay.io":{"username":"q","password":"qq"}}}'
            },
        ),
    )
    body = manager_body(
        "m",
        [
            inline("first", "https://ghcr.io/", password="wins"),
            inline("second", "ghcr.io", password="loses"),
            {"existingSecretRef": {"name": "quay-existing"}},
        ],
    )
    body["spec"]["target"] = {"secret": {"name": "all-registries", "labels": {"team": "payments"}}}
    create_manager(custom, namespace, body)
    wait_for_pull_secrets(core, namespace, ["all-registries"])

    secret = core.read_namespaced_secret("all-registries", namespace)
    assert secret.metadata.labels["team"] == "payments"
    assert secret.metadata.labels["app.kubernetes.io/managed-by"] == "cheiron"
    raw = base64.b64decode(secret.data[".dockerconfigjson"])
    auths = json.loads(raw)["auths"]
    assert sorted(auths) == ["ghcr.io", "quay.io"]
    assert auths["ghcr.io"]["password"] == "wins"
    assert raw == json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    names = [s.metadata.name for s in core.list_namespaced_secret(namespace).items]
    assert "first" not in names
    assert "second" not in names

    condition = eventually(
        lambda: ready_condition(get_manager(custom, namespace, "m")), what="status"
    )
    assert "ghcr.io" in condition["message"]

    # Back to one Secret per entry: the merged one goes, the entries' come.
    patch_spec(custom, namespace, "m", {"target": None})
    set_secrets(custom, namespace, "m", [inline("first")])
    wait_for_pull_secrets(core, namespace, ["first"])
    eventually(
        gone(lambda: core.read_namespaced_secret("all-registries", namespace)),
        what="merged Secret gone",
    )
