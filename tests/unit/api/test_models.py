"""The models accept what the original cheiron accepted and refuse malformed entries."""

from typing import Any

import pytest
from pydantic import ValidationError

from cheiron.api.models import (
    ClusterImagePullSecretManagerSpec,
    ImagePullSecretManagerSpec,
    Mode,
    SecretEntry,
)

ORIGINAL_SAMPLE: dict[str, Any] = {
    "mode": "ServiceAccount",
    "secrets": [
        {
            "name": "docker-hub",
            "registry": "https://index.docker.io/v1",
            "username": "<my-docker-username>",
            "password": "<my-docker-password>",
            "email": "<my-docker-email>",
        },
        {
            "name": "github-container-registry",
            "registry": "ghcr.io",
            "username": "<my-github-username>",
            "password": "<my-github-access-token>",
            "email": "<my-github-email>",
        },
        {"existingSecretRef": {"name": "gitlab-registry"}},
        {"existingSecretRef": {"name": "<my-registry>"}},
    ],
}


def test_original_sample_is_accepted() -> None:
    spec = ImagePullSecretManagerSpec.model_validate(ORIGINAL_SAMPLE)
    assert spec.mode is Mode.SERVICE_ACCOUNT
    assert [e.secret_name for e in spec.secrets] == [
        "docker-hub",
        "github-container-registry",
        "gitlab-registry",
        "<my-registry>",
    ]


def test_mode_defaults_to_service_account() -> None:
    assert ImagePullSecretManagerSpec.model_validate({}).mode is Mode.SERVICE_ACCOUNT


def test_wire_form_round_trips() -> None:
    spec = ImagePullSecretManagerSpec.model_validate(ORIGINAL_SAMPLE)
    assert ImagePullSecretManagerSpec.model_validate(spec.wire()) == spec


ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "a", "registry": "r"}, "exactly one credential source"),
        ({"name": "a", "registry": "r", "username": "u"}, "both username and password"),
        ({"name": "a", "registry": "r", "password": "p"}, "both username and password"),
        ({"registry": "r", "username": "u", "password": "p"}, "name and registry are required"),
        ({"name": "a", "username": "u", "password": "p"}, "name and registry are required"),
        (
            {"existingSecretRef": {"name": "x"}, "username": "u", "password": "p"},
            "exactly one credential source",
        ),
        (
            {"existingSecretRef": {"name": "x"}, "registry": "ghcr.io"},
            "registry cannot be combined",
        ),
        ({"name": "", "registry": "r", "username": "u", "password": "p"}, "name"),
        ({"name": "Bad_Name", "registry": "r", "username": "u", "password": "p"}, "name"),
        ({"existingSecretRef": {"name": ""}}, "existingSecretRef.name"),
        ({"name": "a", "registry": "r", "credentialsSecretRef": {}}, "credentialsSecretRef.name"),
        ({"name": "a", "registry": "r", "username": "u", "password": "p", "colour": 1}, "colour"),
        ({"name": "e", "ecr": {"region": "eu-west-1"}}, "ecr needs registry"),
        ({"name": "e", "ecr": {"registry": "ghcr.io"}}, "ecr.registry"),
        ({"name": "e", "ecr": {"accountID": "12", "region": "eu-west-1"}}, "ecr.accountID"),
        ({"name": "e", "registry": "r", "ecr": {"registry": ECR}}, "registry cannot be combined"),
        ({"ecr": {"registry": ECR}}, "name and registry are required"),
        ({"name": "e", "ecr": {"registry": ECR, "endpointURL": "ftp://x"}}, "ecr.endpointURL"),
    ],
)
def test_malformed_entries_are_refused(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        SecretEntry.model_validate(entry)
    assert message in str(info.value)


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValidationError, match="mode"):
        ImagePullSecretManagerSpec.model_validate({"mode": "Node"})


def test_duplicate_secret_names_are_refused() -> None:
    entry = {"name": "a", "registry": "r", "username": "u", "password": "p"}
    with pytest.raises(ValidationError, match="must be unique"):
        ImagePullSecretManagerSpec.model_validate(
            {"secrets": [entry, {"existingSecretRef": {"name": "a"}}]}
        )


def test_namespaced_refs_cannot_name_a_namespace() -> None:
    with pytest.raises(ValidationError, match="namespace"):
        SecretEntry.model_validate({"existingSecretRef": {"name": "x", "namespace": "other"}})


def test_cluster_refs_must_name_a_namespace() -> None:
    spec = {"secrets": [{"existingSecretRef": {"name": "x"}}]}
    with pytest.raises(ValidationError, match="namespace"):
        ClusterImagePullSecretManagerSpec.model_validate(spec)
    spec = {"secrets": [{"existingSecretRef": {"name": "x", "namespace": "creds"}}]}
    assert ClusterImagePullSecretManagerSpec.model_validate(spec).secrets[0].secret_name == "x"


def test_repr_hides_the_password() -> None:
    entry = SecretEntry.model_validate(
        {"name": "a", "registry": "r", "username": "u", "password": "hunter2"}
    )
    assert "hunter2" not in repr(entry)
    assert "hunter2" not in str(entry)


def test_validation_errors_do_not_echo_the_password() -> None:
    with pytest.raises(ValidationError) as info:
        SecretEntry.model_validate({"name": "a", "password": "hunter2"})
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("source", "host"),
    [
        ({"registry": ECR}, ECR),
        ({"accountID": "123456789012", "region": "eu-west-1"}, ECR),
        ({"credentialsSecretRef": {"name": "aws"}}, None),
    ],
)
def test_ecr_host(source: dict[str, Any], host: str | None) -> None:
    entry = SecretEntry.model_validate({"name": "e", "ecr": source})
    assert entry.ecr is not None
    assert entry.ecr.host == host
