"""The apiserver refuses malformed managers, naming the field that is wrong."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from cheiron import API_GROUP, API_VERSION
from cheiron.api.crd import KINDS
from tests.support.managers import create_manager, inline, manager_body
from tests.support.moto import REGISTRY as ECR


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
        ({"secrets": [{"name": "e", "ecr": {"region": "eu-west-1"}}]}, "ecr needs registry"),
        ({"secrets": [{"name": "e", "ecr": {"registry": "ghcr.io"}}]}, "ecr.registry"),
        (
            {"secrets": [{"name": "e", "ecr": {"registry": ECR}, "username": "u"}]},
            "exactly one credential source",
        ),
        (
            {"secrets": [{"name": "e", "ecr": {"registry": ECR, "roleArn": "admin"}}]},
            "ecr.roleArn",
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
        create_manager(custom, None, body)
    assert info.value.status == 422
    assert "In and NotIn need values" in info.value.body


def test_cluster_refs_must_name_their_namespace(
    crds: None, custom: client.CustomObjectsApi
) -> None:
    body = manager_body("bad-cluster", [{"existingSecretRef": {"name": "x"}}], cluster=True)
    with pytest.raises(ApiException) as info:
        create_manager(custom, None, body)
    assert info.value.status == 422
    assert "existingSecretRef.namespace" in info.value.body


KINDS_BY_NAME = {k.kind: k for k in KINDS}
SAMPLES = sorted((Path(__file__).parents[3] / "samples").glob("*.yaml"))


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_every_sample_is_accepted_by_the_apiserver(
    crds: None, custom: client.CustomObjectsApi, namespace: str, path: Path
) -> None:
    for body in yaml.safe_load_all(path.read_text()):
        kind = KINDS_BY_NAME[body["kind"]]
        if kind.namespaced:
            custom.create_namespaced_custom_object(
                API_GROUP, API_VERSION, namespace, kind.plural, body, dry_run="All"
            )
        else:
            custom.create_cluster_custom_object(
                API_GROUP, API_VERSION, kind.plural, body, dry_run="All"
            )
