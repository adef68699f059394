"""The manager informer's snapshot: parsed spec or None, slim body, what its lifecycle reads."""

from typing import Any

from cheiron.api.meta import FINALIZER, LEGACY_SPEC_COPY
from cheiron.api.observed import ManagerKind, ParsedManagers, manager_object


def _body(spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "cheiron.anny.co/v1alpha1",
        "kind": "ImagePullSecretManager",
        "metadata": {
            "name": "m",
            "namespace": "team",
            "uid": "u-1",
            "resourceVersion": "42",
            "generation": 3,
            "managedFields": [{"manager": "kubectl"}],
            **metadata,
        },
        "spec": spec,
        "status": {"phase": "Ready"},
    }


VALID = {"secrets": [{"name": "a", "registry": "ghcr.io", "username": "u", "password": "p"}]}


def test_a_valid_manager_carries_its_parsed_spec_and_a_slim_body() -> None:
    obj = manager_object(ManagerKind.NAMESPACED, _body(VALID, finalizers=[FINALIZER]))
    assert obj.info is not None
    assert obj.info.key == obj.key == "ImagePullSecretManager/team/m"
    assert (obj.resource_version, obj.generation, obj.deleting) == ("42", 3, False)
    assert obj.finalizers == (FINALIZER,)
    assert not obj.legacy_copy
    # What a pass reads, and nothing the API server adds for other clients.
    assert set(obj.body) == {"metadata", "spec", "status"}
    assert "managedFields" not in obj.body["metadata"]
    assert obj.body["status"] == {"phase": "Ready"}


def test_a_malformed_spec_gives_no_info_but_an_object_its_loop_can_report_on() -> None:
    obj = manager_object(ManagerKind.NAMESPACED, _body({"secrets": [{"name": 7}]}))
    assert obj.info is None
    assert obj.body["spec"] == {"secrets": [{"name": 7}]}


def test_deletion_and_an_earlier_versions_spec_copy_are_seen() -> None:
    obj = manager_object(
        ManagerKind.CLUSTER,
        _body(
            VALID,
            deletionTimestamp="2026-11-30T00:00:00Z",
            annotations={LEGACY_SPEC_COPY: "{}"},
        ),
    )
    assert obj.deleting
    assert obj.legacy_copy
    assert obj.namespace is None  # a cluster manager, whatever its metadata says
    assert obj.key == "ClusterImagePullSecretManager/m"


def test_a_spec_is_validated_once_per_generation() -> None:
    parsed: ParsedManagers = {}
    first = manager_object(ManagerKind.NAMESPACED, _body(VALID), parsed=parsed)
    # A status write: same generation, the same parsed spec.
    again = manager_object(ManagerKind.NAMESPACED, _body(VALID), parsed=parsed)
    assert again.info is first.info
    changed = {"secrets": [{**VALID["secrets"][0], "name": "b"}]}
    newer = manager_object(ManagerKind.NAMESPACED, _body(changed, generation=4), parsed=parsed)
    assert newer.info is not None
    assert newer.info.spec.secrets[0].name == "b"
    deleting = manager_object(
        ManagerKind.NAMESPACED,
        _body(changed, generation=4, deletionTimestamp="2026-11-30T00:00:00Z"),
        parsed=parsed,
    )
    assert deleting.info is not None
    assert deleting.info.deleting
