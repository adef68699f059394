"""The apiserver refuses malformed managers, naming the field that is wrong."""

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from cheiron import API_GROUP, API_VERSION
from tests.integration.operator.conftest import inline, manager_body


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ({"mode": "Node", "secrets": []}, "spec.mode"),
        ({"secrets": [{"name": "a", "registry": "ghcr.io"}]}, "exactly one credential source"),
        ({"secrets": [{**inline("a"), "password": None}]}, "both username and password"),
        ({"secrets": [{**inline("a"), "name": ""}]}, "spec.secrets[0].name"),
        ({"secrets": [{**inline("Not_A_Name")}]}, "spec.secrets[0].name"),
        ({"secrets": [{"existingSecretRef": {"name": ""}}]}, "existingSecretRef.name"),
        ({"secrets": [inline("a"), {"existingSecretRef": {"name": "a"}}]}, "must be unique"),
        (
            {"secrets": [{"existingSecretRef": {"name": "x"}, "registry": "ghcr.io"}]},
            "registry cannot be combined",
        ),
    ],
)
def test_malformed_manager_is_refused(
    crds: None, custom: client.CustomObjectsApi, namespace: str, spec: dict[str, Any], says: str
) -> None:
    body = manager_body("bad", [])
    body["spec"] = {k: v for k, v in spec.items()}
    body["spec"]["secrets"] = [
        {k: v for k, v in entry.items() if v is not None} for entry in spec["secrets"]
    ]
    with pytest.raises(ApiException) as info:
        custom.create_namespaced_custom_object(
            API_GROUP, API_VERSION, namespace, "imagepullsecretmanagers", body
        )
    assert info.value.status == 422
    assert says in info.value.body


def test_selector_requirements_are_checked(crds: None, custom: client.CustomObjectsApi) -> None:
    body = manager_body("bad-selector", [inline("a")], cluster=True)
    body["spec"]["target"] = {
        "namespaces": {"labels": [{"matchExpressions": [{"key": "team", "operator": "In"}]}]}
    }
    with pytest.raises(ApiException) as info:
        custom.create_cluster_custom_object(
            API_GROUP, API_VERSION, "clusterimagepullsecretmanagers", body
        )
    assert info.value.status == 422
    assert "In and NotIn need values" in info.value.body


def test_cluster_refs_must_name_their_namespace(
    crds: None, custom: client.CustomObjectsApi
) -> None:
    body = manager_body("bad-cluster", [{"existingSecretRef": {"name": "x"}}], cluster=True)
    with pytest.raises(ApiException) as info:
        custom.create_cluster_custom_object(
            API_GROUP, API_VERSION, "clusterimagepullsecretmanagers", body
        )
    assert info.value.status == 422
    assert "existingSecretRef.namespace" in info.value.body
