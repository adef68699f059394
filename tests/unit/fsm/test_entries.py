"""Resolving entries: every failure has its own reason, and no message holds a secret."""

import base64
import json
from dataclasses import dataclass

import pytest

from cheiron.api.models import ClusterImagePullSecretManagerSpec, ImagePullSecretManagerSpec
from cheiron.api.observed import ManagerInfo, ManagerKind
from cheiron.dockerconfig import DockerConfig
from cheiron.fsm import entries

PASSWORD = "s3cret-value"
GOOD = json.dumps(
    {"auths": {"quay.io": {"auth": base64.b64encode(b"u:" + PASSWORD.encode()).decode()}}}
).encode()


@dataclass(frozen=True)
class FakeSecret:
    type: str
    data: dict[str, bytes]


SECRETS = {
    ("team", "pull"): FakeSecret("kubernetes.io/dockerconfigjson", {".dockerconfigjson": GOOD}),
    ("team", "opaque"): FakeSecret("Opaque", {"username": b"robot", "password": PASSWORD.encode()}),
    ("team", "nodata"): FakeSecret("kubernetes.io/dockerconfigjson", {}),
    ("team", "garbled"): FakeSecret("kubernetes.io/dockerconfigjson", {".dockerconfigjson": b"{"}),
}


def read(namespace: str, name: str) -> FakeSecret | None:
    return SECRETS.get((namespace, name))


def manager(entry: dict[str, object], cluster: bool = False) -> tuple[ManagerInfo, object]:
    if cluster:
        spec = ClusterImagePullSecretManagerSpec.model_validate({"secrets": [entry]})
        info = ManagerInfo(ManagerKind.CLUSTER, "m", None, "uid", 1, spec)
    else:
        spec = ImagePullSecretManagerSpec.model_validate({"secrets": [entry]})
        info = ManagerInfo(ManagerKind.NAMESPACED, "m", "team", "uid", 1, spec)
    return info, spec.secrets[0]


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"name": "a", "registry": "ghcr.io", "username": "u", "password": PASSWORD}, "Resolved"),
        (
            {"name": "a", "registry": "bad_host!", "username": "u", "password": PASSWORD},
            "InvalidRegistry",
        ),
        (
            {"name": "a", "registry": "ghcr.io", "username": "u:x", "password": PASSWORD},
            "InvalidCredentials",
        ),
        (
            {"name": "a", "registry": "ghcr.io", "credentialsSecretRef": {"name": "opaque"}},
            "Resolved",
        ),
        (
            {"name": "a", "registry": "ghcr.io", "credentialsSecretRef": {"name": "nope"}},
            "SecretNotFound",
        ),
        (
            {
                "name": "a",
                "registry": "ghcr.io",
                "credentialsSecretRef": {"name": "opaque", "passwordKey": "pw"},
            },
            "KeyNotFound",
        ),
        ({"existingSecretRef": {"name": "pull"}}, "Resolved"),
        ({"existingSecretRef": {"name": "nope"}}, "SecretNotFound"),
        ({"existingSecretRef": {"name": "opaque"}}, "WrongSecretType"),
        ({"existingSecretRef": {"name": "nodata"}}, "MalformedDockerConfig"),
        ({"existingSecretRef": {"name": "garbled"}}, "MalformedDockerConfig"),
        ({"existingSecretRef": {"name": "<my-registry>"}}, "InvalidSecretName"),
    ],
)
def test_reasons(entry: dict[str, object], reason: str) -> None:
    info, model = manager(entry)
    outcome = entries.resolve(info, model, read)  # type: ignore[arg-type]
    assert outcome.reason == reason
    assert outcome.ok is (reason == "Resolved")
    assert PASSWORD not in outcome.message
    assert PASSWORD not in repr(outcome)


def test_namespaced_existing_secret_is_used_in_place() -> None:
    info, model = manager({"existingSecretRef": {"name": "pull"}})
    outcome = entries.resolve(info, model, read)  # type: ignore[arg-type]
    assert outcome.in_place
    # Kept for merging into a target.secret; never copied in per-entry mode.
    assert outcome.payload == GOOD


def test_cluster_existing_secret_is_copied_from_its_namespace() -> None:
    info, model = manager(
        {"existingSecretRef": {"name": "pull", "namespace": "team"}}, cluster=True
    )
    outcome = entries.resolve(info, model, read)  # type: ignore[arg-type]
    assert outcome.payload == GOOD
    assert outcome.source == ("team", "pull")


def test_credentials_from_secret_keys() -> None:
    info, model = manager(
        {"name": "a", "registry": "ghcr.io", "credentialsSecretRef": {"name": "opaque"}}
    )
    outcome = entries.resolve(info, model, read)  # type: ignore[arg-type]
    assert outcome.payload is not None
    entry = DockerConfig.parse(outcome.payload).auths["ghcr.io"]
    assert (entry.username, entry.password) == ("robot", PASSWORD)
