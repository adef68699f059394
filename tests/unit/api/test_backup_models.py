"""ClusterImageBackup specs: defaults, and the rules pydantic and the CRD's CEL both enforce."""

from typing import Any

import pytest
from pydantic import ValidationError

from cheiron.api.crd import CLUSTER_IMAGE_BACKUP, crd
from cheiron.api.models import ClusterImageBackupSpec, Rewrite, WorkloadKind

REGISTRY = {
    "host": "backup.example.com:5000",
    "credentialsSecretRef": {"name": "push", "namespace": "ops"},
}


def _spec(**fields: Any) -> ClusterImageBackupSpec:
    return ClusterImageBackupSpec.model_validate({"registry": REGISTRY, **fields})


def test_defaults() -> None:
    spec = _spec()
    assert spec.rewrite is Rewrite.WORKLOADS
    assert spec.workload_kinds == list(WorkloadKind)
    assert spec.keep_tag
    assert spec.copy_concurrency == 4
    assert spec.registry.credentials_secret_ref.username_key == "username"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"registry": {**REGISTRY, "host": "https://x.io"}}, "pattern"),
        ({"registry": {**REGISTRY, "prefix": "Upper/Case"}}, "pattern"),
        ({"registry": {**REGISTRY, "prefix": "a//b"}}, "pattern"),
        ({"registry": {**REGISTRY, "caBundle": "PEM", "insecure": True}}, "cannot be combined"),
        ({"registry": {"host": "x.io"}}, "credentialsSecretRef"),
        ({"rewrite": "Everything"}, "Workloads"),
        ({"workloadKinds": ["CronJob"]}, "Deployment"),
        ({"copyConcurrency": 0}, "greater than or equal"),
        (
            {"sourceRegistries": [{"registry": "ghcr.io"}, {"registry": "ghcr.io"}]},
            "listed once",
        ),
        ({"unknown": 1}, "Extra inputs"),
    ],
)
def test_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _spec(**fields)


def test_source_registry_with_credentials_and_ca() -> None:
    spec = _spec(
        sourceRegistries=[
            {
                "registry": "registry.internal:5000",
                "credentialsSecretRef": {"name": "pull", "namespace": "ops"},
                "caBundle": "-----BEGIN CERTIFICATE-----",
                "namespaces": ["team-a"],
            },
            {"registry": "docker.io"},
        ]
    )
    assert [s.registry for s in spec.source_registries] == ["registry.internal:5000", "docker.io"]


def test_source_credentials_name_the_namespaces_that_may_use_them() -> None:
    with pytest.raises(ValidationError, match="lists the namespaces"):
        _spec(
            sourceRegistries=[
                {
                    "registry": "registry.internal:5000",
                    "credentialsSecretRef": {"name": "pull", "namespace": "ops"},
                }
            ]
        )
    schema = crd(CLUSTER_IMAGE_BACKUP)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    item = schema["properties"]["spec"]["properties"]["sourceRegistries"]["items"]
    assert any("credentialsSecretRef" in r["rule"] for r in item["x-kubernetes-validations"])


def test_crd_carries_the_cel_rules() -> None:
    schema = crd(CLUSTER_IMAGE_BACKUP)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spec = schema["properties"]["spec"]
    assert crd(CLUSTER_IMAGE_BACKUP)["spec"]["scope"] == "Cluster"
    assert spec["required"] == ["registry"]
    rules = spec["properties"]["registry"]["x-kubernetes-validations"]
    assert rules[0]["message"] == "caBundle and insecure cannot be combined"
    sources = spec["properties"]["sourceRegistries"]["x-kubernetes-validations"]
    assert sources[0]["message"] == "each source registry may be listed once"
