"""Taking over another tool's Secrets in place: only those labelled for the manager."""

from kubernetes import client

from cheiron.api.meta import ADOPT_LABEL, OWNER_UID_LABEL
from tests.support.managers import (
    create_manager,
    docker_config,
    events_for,
    get_manager,
    inline,
    manager_body,
)
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually, gone

OLD = '{"auths":{"ghcr.io":{"username":"old","password":"old-tool-pass","auth":"b2xkOm9sZA=="}}}'


def _old_tool_secret(
    core: client.CoreV1Api, namespace: str, name: str, owner: client.V1ConfigMap, **labels: str
) -> client.V1Secret:
    """A pull Secret as an old tool writes it: owned by its object, marked its way."""
    return core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(
                name=name,
                labels=labels or None,
                annotations={"app.kubernetes.io/managed-by": "imagepullsecret-patcher"},
                owner_references=[
                    client.V1OwnerReference(
                        api_version="v1", kind="ConfigMap", name="old-tool", uid=owner.metadata.uid
                    )
                ],
            ),
            type="kubernetes.io/dockerconfigjson",
            string_data={".dockerconfigjson": OLD},
        ),
    )


def test_labelled_secrets_are_adopted_in_place_and_others_left_alone(
    operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    # The old tool's object: deleting it would garbage-collect whatever it still owns.
    owner = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="old-tool"))
    )
    adopted = _old_tool_secret(core, namespace, "pull", owner, **{ADOPT_LABEL: "m"})
    foreign = _old_tool_secret(core, namespace, "other", owner)
    _old_tool_secret(core, namespace, "witness", owner)

    create_manager(
        custom, namespace, manager_body("m", [inline("pull", password="new"), inline("other")])
    )

    def taken_over() -> client.V1Secret | None:
        s = core.read_namespaced_secret("pull", namespace)
        return s if (s.metadata.labels or {}).get(OWNER_UID_LABEL) else None

    now = eventually(taken_over, what="the labelled Secret adopted")
    manager = get_manager(custom, namespace, "m")
    assert now.metadata.uid == adopted.metadata.uid  # in place: never deleted and recreated
    assert now.metadata.labels[OWNER_UID_LABEL] == manager["metadata"]["uid"]
    assert ADOPT_LABEL not in now.metadata.labels
    assert not now.metadata.owner_references
    assert docker_config(now)["auths"]["ghcr.io"]["password"] == "new"
    eventually(
        lambda: any(e.reason == "SecretAdopted" for e in events_for(core, namespace, "m")),
        what="a SecretAdopted Event",
    )

    # The unlabelled one is a conflict, as any Secret cheiron did not create.
    eventually(
        lambda: "other exists and is not managed" in str(get_manager(custom, namespace, "m")),
        what="the conflict reported",
    )
    untouched = core.read_namespaced_secret("other", namespace)
    assert untouched.metadata.resource_version == foreign.metadata.resource_version

    # The old tool uninstalled: its object goes, and what it still owns with it; not ours.
    core.delete_namespaced_config_map("old-tool", namespace, propagation_policy="Background")
    eventually(
        gone(lambda: core.read_namespaced_secret("witness", namespace)),
        timeout=60,
        what="the garbage collector removing the old tool's own Secrets",
    )
    assert core.read_namespaced_secret("pull", namespace).metadata.uid == adopted.metadata.uid
