"""Resolving entries: every failure has its own reason, and no message holds a secret."""

import base64
import json
from dataclasses import dataclass

import pytest

from cheiron.api.models import ClusterImagePullSecretManagerSpec, ImagePullSecretManagerSpec
from cheiron.api.observed import ManagerInfo, ManagerKind
from cheiron.dockerconfig import DockerConfig
from cheiron.pullsecrets import entries

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
    ("team", "aws"): FakeSecret(
        "Opaque",
        {
            "accessKeyID": b"AKIAEXAMPLE\n",
            "secretKey": PASSWORD.encode(),
            "region": b"eu-west-1",
            "accountID": b"123456789012",
        },
    ),
    ("team", "aws-keys-only"): FakeSecret(
        "Opaque", {"accessKeyID": b"AKIAEXAMPLE", "secretKey": PASSWORD.encode()}
    ),
    ("team", "aws-no-secret"): FakeSecret("Opaque", {"accessKeyID": b"AKIAEXAMPLE"}),
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


# What the operator of these tests lets namespace `team` do: its own identity, any role.
LENIENT = entries.EcrPolicy(frozenset({"team"}), ("*",))


def _ecr(
    source: dict[str, object], policy: entries.EcrPolicy = LENIENT, cluster: bool = False
) -> entries.EcrRequest | entries.EntryOutcome:
    info, entry = manager({"name": "ecr", "ecr": source}, cluster)
    return entries.ecr_target(info, entry, read, policy)  # type: ignore[arg-type]


REGISTRY = {"registry": "123456789012.dkr.ecr.eu-west-1.amazonaws.com"}
KEYS = {"credentialsSecretRef": {"name": "aws"}}


@pytest.mark.parametrize(
    ("source", "refused"),
    [
        (REGISTRY, "needs credentialsSecretRef"),
        ({**KEYS, "roleArn": "arn:aws:iam::123456789012:role/admin"}, "may assume"),
        ({**KEYS, "endpointURL": "https://ecr.example.com"}, "namespaced managers may use"),
        ({**KEYS, "endpointURL": "http://127.0.0.1:9"}, "plain http"),
    ],
)
def test_a_namespaced_manager_gets_only_what_the_admin_allowed(
    source: dict[str, object], refused: str
) -> None:
    outcome = _ecr(source, entries.EcrPolicy())
    assert isinstance(outcome, entries.EntryOutcome)
    assert (outcome.ok, outcome.reason) == (False, entries.NOT_ALLOWED)
    assert refused in outcome.message


def test_the_admin_widens_it_by_namespace_role_and_host() -> None:
    policy = entries.EcrPolicy(
        frozenset({"team"}), ("arn:aws:iam::123456789012:role/pull-*",), frozenset({"127.0.0.1:9"})
    )
    assert isinstance(_ecr(REGISTRY, policy), entries.EcrRequest)
    role = {**KEYS, "roleArn": "arn:aws:iam::123456789012:role/pull-team"}
    target = _ecr(role, policy)
    assert isinstance(target, entries.EcrRequest)
    assert target.session_name == "team.m"
    assert isinstance(
        _ecr({**KEYS, "endpointURL": "http://127.0.0.1:9"}, policy), entries.EcrRequest
    )


def test_a_cluster_manager_may_use_the_operators_identity_but_not_plain_http() -> None:
    assert isinstance(_ecr(REGISTRY, entries.EcrPolicy(), cluster=True), entries.EcrRequest)
    plain = _ecr({**REGISTRY, "endpointURL": "http://ecr.example.com"}, entries.EcrPolicy(), True)
    assert isinstance(plain, entries.EntryOutcome)
    assert plain.reason == entries.NOT_ALLOWED


def test_ecr_registry_names_account_and_region() -> None:
    target = _ecr({"registry": "123456789012.dkr.ecr.eu-west-1.amazonaws.com"})
    assert target == entries.EcrRequest("123456789012", "eu-west-1", session_name="team.m")


def test_ecr_imps_secret_gives_keys_account_and_region() -> None:
    target = _ecr(
        {"credentialsSecretRef": {"name": "aws"}, "roleArn": "arn:aws:iam::123456789012:role/x"}
    )
    assert isinstance(target, entries.EcrRequest)
    assert (target.account_id, target.region) == ("123456789012", "eu-west-1")
    assert target.keys == entries.AwsKeys("AKIAEXAMPLE", PASSWORD)
    assert PASSWORD not in repr(target)


def test_ecr_spec_wins_over_the_secret() -> None:
    target = _ecr(
        {
            "credentialsSecretRef": {"name": "aws"},
            "accountID": "999999999999",
            "region": "us-east-1",
        }
    )
    assert isinstance(target, entries.EcrRequest)
    assert (target.account_id, target.region) == ("999999999999", "us-east-1")


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ({"credentialsSecretRef": {"name": "missing"}}, entries.SECRET_NOT_FOUND),
        ({"credentialsSecretRef": {"name": "aws-no-secret"}}, entries.KEY_NOT_FOUND),
        ({"credentialsSecretRef": {"name": "aws-keys-only"}}, entries.INVALID_REGISTRY),
    ],
)
def test_ecr_failures_name_their_reason(source: dict[str, object], reason: str) -> None:
    outcome = _ecr(source)
    assert isinstance(outcome, entries.EntryOutcome)
    assert not outcome.ok
    assert outcome.reason == reason
    assert PASSWORD not in outcome.message


def test_identity_changes_with_the_key_but_not_the_secret() -> None:
    a = entries.EcrRequest("1", "r", entries.AwsKeys("AKIA1", "x"))
    assert a.identity == entries.EcrRequest("1", "r", entries.AwsKeys("AKIA1", "y")).identity
    assert a.identity != entries.EcrRequest("1", "r", entries.AwsKeys("AKIA2", "x")).identity


@pytest.mark.parametrize(
    "keys",
    [
        {"accessKeyID": "AKIAEXAMPLE", "secretKey": ""},
        {"accessKeyID": "AKIAEXAMPLE", "secretKey": "   "},
        {"accessKeyID": "", "secretKey": PASSWORD},
        {"accessKeyID": " \n", "secretKey": " "},
        {"accessKeyID": "", "secretKey": "", "sessionToken": "FwoGZXIvYXdz"},
    ],
)
@pytest.mark.parametrize("cluster", [False, True])
def test_incomplete_keys_are_refused_for_every_manager(keys: dict[str, str], cluster: bool) -> None:
    """A named Secret must give the whole identity: what it lacks is never taken elsewhere."""
    SECRETS[("team", "partial")] = FakeSecret(
        "Opaque",
        {
            **{k: v.encode() for k, v in keys.items()},
            "region": b"eu-west-1",
            "accountID": b"1" * 12,
        },
    )
    ref = {
        "credentialsSecretRef": {"name": "partial", **({"namespace": "team"} if cluster else {})}
    }
    # Even where the admin lends the operator's identity (LENIENT), a half key is no key.
    outcome = _ecr(ref, LENIENT, cluster)
    assert isinstance(outcome, entries.EntryOutcome)
    assert (outcome.ok, outcome.reason) == (False, entries.INCOMPLETE_AWS_KEYS)
    assert "team/partial" in outcome.message
    assert PASSWORD not in outcome.message


def test_complete_keys_carry_a_session_token() -> None:
    SECRETS[("team", "temporary")] = FakeSecret(
        "Opaque",
        {
            "accessKeyID": b"ASIAEXAMPLE",
            "secretKey": PASSWORD.encode(),
            "sessionToken": b"FwoGZXIvYXdz\n",
            "region": b"eu-west-1",
            "accountID": b"123456789012",
        },
    )
    target = _ecr({"credentialsSecretRef": {"name": "temporary"}}, entries.EcrPolicy())
    assert isinstance(target, entries.EcrRequest)
    assert target.keys == entries.AwsKeys("ASIAEXAMPLE", PASSWORD, "FwoGZXIvYXdz")
    assert "FwoGZXIvYXdz" not in repr(target)
