"""Registry normalisation, deterministic payloads, validation without leaking secrets."""

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cheiron.dockerconfig import (
    DOCKER_HUB,
    AuthEntry,
    DockerConfig,
    DockerConfigError,
    encode_auth,
    merge,
    normalize_registry,
)

HUB_FORMS = [
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
    "https://index.docker.io/v1",
    "https://index.docker.io/v1/",
    "http://docker.io/",
    "https://registry-1.docker.io/v2/",
    "Docker.IO",
]


@pytest.mark.parametrize("form", HUB_FORMS)
def test_docker_hub_forms(form: str) -> None:
    assert normalize_registry(form) == DOCKER_HUB


@pytest.mark.parametrize(
    ("given_", "expected"),
    [
        ("ghcr.io", "ghcr.io"),
        ("https://GHCR.io/", "ghcr.io"),
        ("localhost:5000", "localhost:5000"),
        ("http://127.0.0.1:5000/v2/", "127.0.0.1:5000"),
        ("registry.gitlab.com/group/sub/", "registry.gitlab.com/group/sub"),
        (
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        ),
        ("docker.io/library", "docker.io/library"),
    ],
)
def test_other_registries(given_: str, expected: str) -> None:
    assert normalize_registry(given_) == expected


@pytest.mark.parametrize("bad", ["", "   ", "ghcr .io", "https://", "bad_host!", "-x.io"])
def test_invalid_registries(bad: str) -> None:
    with pytest.raises(DockerConfigError):
        normalize_registry(bad)


hosts = st.from_regex(r"[a-z][a-z0-9]{0,8}(\.[a-z]{2,5}){0,2}(:[0-9]{2,4})?", fullmatch=True)
registries = st.tuples(
    st.sampled_from(["", "http://", "https://", "HTTPS://"]),
    st.one_of(hosts, st.sampled_from(HUB_FORMS)),
    st.sampled_from(["", "/", "/v1", "/v2/", "/team", "/team/sub/"]),
).map("".join)


@given(registries)
def test_normalisation_is_idempotent(registry: str) -> None:
    try:
        once = normalize_registry(registry)
    except DockerConfigError:
        return
    assert normalize_registry(once) == once


def test_single_builds_the_documented_shape() -> None:
    config = DockerConfig.single("ghcr.io", "me", "s3cret", "me@example.com")
    document = json.loads(config.to_json())
    entry = document["auths"]["ghcr.io"]
    assert base64.b64decode(entry["auth"]) == b"me:s3cret"
    assert entry == {
        "auth": encode_auth("me", "s3cret"),
        "username": "me",
        "password": "s3cret",
        "email": "me@example.com",
    }
    assert config.to_json() == json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


SECRET = "hunter2-do-not-leak"
AUTH = base64.b64encode(f"user:{SECRET}".encode()).decode()


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ("{", "not valid JSON"),
        ("[]", "not a JSON object"),
        ('{"auths": []}', "`auths` is not a JSON object"),
        ('{"auths": {}}', "no registries"),
        ('{"auths": {"ghcr.io": "x"}}', "not a JSON object"),
        ('{"auths": {"ghcr.io": {"auth": "%%%"}}}', "not valid base64"),
        (
            json.dumps(
                {"auths": {"ghcr.io": {"auth": base64.b64encode(SECRET.encode()).decode()}}}
            ),
            "user:password",
        ),
        (json.dumps({"auths": {"ghcr.io": {"identitytoken": SECRET}}}), "needs `auth`"),
        ('{"auths": {"ghcr.io": {"username": "u", "password": 5}}}', "must be a string"),
        (json.dumps({"auths": {"bad host": {"auth": AUTH}}}), "registry key"),
    ],
)
def test_parse_errors_say_what_and_never_the_value(payload: str, problem: str) -> None:
    with pytest.raises(DockerConfigError) as info:
        DockerConfig.parse(payload)
    assert problem in str(info.value)
    assert SECRET not in str(info.value)
    assert AUTH not in str(info.value)


def test_parse_fills_credentials_from_auth_and_accepts_legacy_form() -> None:
    modern = DockerConfig.parse(
        json.dumps({"auths": {"https://index.docker.io/v1/": {"auth": AUTH}}})
    )
    legacy = DockerConfig.parse(json.dumps({"docker.io": {"auth": AUTH}}))
    assert modern == legacy
    assert modern.auths[DOCKER_HUB].password == SECRET


def test_first_key_wins_when_two_normalise_alike() -> None:
    config = DockerConfig.parse(
        json.dumps(
            {"auths": {"docker.io": {"auth": AUTH}, DOCKER_HUB: {"username": "b", "password": "c"}}}
        )
    )
    assert config.auths[DOCKER_HUB].username == "user"


credentials = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=":"),
    min_size=1,
    max_size=12,
)


@given(st.dictionaries(hosts, st.tuples(credentials, credentials), min_size=1, max_size=4))
def test_round_trip(entries: dict[str, tuple[str, str]]) -> None:
    config = DockerConfig(
        {normalize_registry(h): AuthEntry.from_credentials(u, p) for h, (u, p) in entries.items()}
    )
    assert DockerConfig.parse(config.to_json()) == config


@given(
    st.lists(
        st.tuples(st.sampled_from(["ghcr.io", "docker.io", "quay.io"]), credentials),
        min_size=1,
        max_size=5,
    )
)
def test_merge_precedence_and_determinism(items: list[tuple[str, str]]) -> None:
    configs = [DockerConfig.single(r, "u", p) for r, p in items]
    merged, overridden = merge(configs)
    first: dict[str, str] = {}
    for r, p in items:
        first.setdefault(normalize_registry(r), p)
    assert {k: v.password for k, v in merged.auths.items()} == first
    assert merge(list(reversed(configs)))[0].registries == merged.registries
    seen = [normalize_registry(r) for r, _ in items]
    assert overridden == tuple(sorted({r for r in seen if seen.count(r) > 1}))
    assert merge([configs[0]]) == (configs[0], ())


def test_reprs_hide_credentials() -> None:
    config = DockerConfig.single("ghcr.io", "me", SECRET)
    assert SECRET not in repr(config)
    assert SECRET not in repr(config.auths["ghcr.io"])
    assert config.auths["ghcr.io"].auth not in repr(config.auths["ghcr.io"])
