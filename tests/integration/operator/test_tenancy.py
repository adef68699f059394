"""A namespaced manager acts in its own namespace only, whatever labels others write."""

import uuid

from kubernetes import client

from cheiron.api.meta import OWNER_UID_LABEL
from cheiron.api.observed import DOCKERCONFIGJSON_KEY, DOCKERCONFIGJSON_TYPE
from tests.support.managers import (
    create_manager,
    get_manager,
    inline,
    manager_body,
    set_secrets,
    wait_for_pull_secrets,
)
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually


def test_a_secret_elsewhere_with_the_managers_owner_label_is_never_deleted(
    operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    create_manager(custom, namespace, manager_body("m", [inline("a"), inline("b", "quay.io")]))
    wait_for_pull_secrets(core, namespace, ["a", "b"])
    uid = get_manager(custom, namespace, "m")["metadata"]["uid"]
    # Someone else's namespace holds a Secret that claims to be this manager's "b".
    elsewhere = f"{namespace[:40]}-other-{uuid.uuid4().hex[:4]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=elsewhere)))
    try:
        core.create_namespaced_secret(
            elsewhere,
            client.V1Secret(
                metadata=client.V1ObjectMeta(name="b", labels={OWNER_UID_LABEL: uid}),
                type=DOCKERCONFIGJSON_TYPE,
                data={DOCKERCONFIGJSON_KEY: "eyJhdXRocyI6IHt9fQ=="},
            ),
        )
        # Entry b goes: the manager deletes its own "b", and only that one.
        set_secrets(custom, namespace, "m", [inline("a")])
        eventually(
            lambda: (
                "b" not in [s.metadata.name for s in core.list_namespaced_secret(namespace).items]
            ),
            what="the manager's own b deleted",
        )
        assert core.read_namespaced_secret("b", elsewhere).metadata.labels[OWNER_UID_LABEL] == uid
    finally:
        core.delete_namespace(elsewhere)
