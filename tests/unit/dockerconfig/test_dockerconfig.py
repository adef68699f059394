"""Building, parsing and merging payloads: deterministic, validated, no secrets leaked."""

import base64
import contextlib
import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cheiron.dockerconfig import (
    DOCKER_HUB,
    MAX_REGISTRIES,
    AuthEntry,
    DockerConfig,
    DockerConfigError,
    encode_auth,
    merge,
    normalize_registry,
)

SECRET = "hunter2-do-not-leak"
AUTH = base64.b64encode(f"user:{SECRET}".encode()).decode()


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def auths(entries: object) -> str:
    return json.dumps({"auths": entries})


def test_encode_auth_is_padded_standard_base64() -> None:
    assert encode_auth("me", "s3cret") == "bWU6czNjcmV0"
    assert encode_auth("a", "b") == "YTpi"
    assert encode_auth("u", "p?>") == "dTpwPz4="  # `+`/`/` alphabet, `=` padding
    assert base64.b64decode(encode_auth("u", "a:b")) == b"u:a:b"


def test_single_builds_the_documented_shape() -> None:
    config = DockerConfig.single("https://GHCR.io/", "me", "s3cret", "me@example.com")
    assert config.to_json() == (
        b'{"auths":{"ghcr.io":{"auth":"bWU6czNjcmV0","email":"me@example.com",'
        b'"password":"s3cret","username":"me"}}}'
    )
    assert config.registries == ("ghcr.io",)


def test_to_json_is_sorted_compact_utf8() -> None:
    config = DockerConfig(
        {
            "quay.io": AuthEntry.from_credentials("q", "pässwörd"),
            "docker.io": AuthEntry.from_credentials("d", "p"),
            "ghcr.io": AuthEntry.from_credentials("g", "p"),
        }
    )
    data = config.to_json()
    assert config.registries == ("ghcr.io", DOCKER_HUB, "quay.io")
    assert list(json.loads(data)["auths"]) == ["ghcr.io", DOCKER_HUB, "quay.io"]
    assert "pässwörd".encode() in data
    assert b" " not in data
    assert not data.endswith(b"\n")


def test_entry_json_object_has_only_set_fields() -> None:
    assert AuthEntry.from_credentials("u", "p").to_json_object() == {
        "auth": "dTpw",
        "username": "u",
        "password": "p",
    }
    assert AuthEntry.from_credentials("u", "p", "e@x").to_json_object()["email"] == "e@x"


def test_entry_is_canonical() -> None:
    assert AuthEntry("dTpw") == AuthEntry("dTpw", "u", "p") == AuthEntry("dTpw", email="")
    assert AuthEntry("dTpw", username="explicit").username == "explicit"


@pytest.mark.parametrize(
    ("username", "password", "problem"),
    [
        ("", SECRET, "`username` is empty"),
        ("a:b", SECRET, "`username` contains ':'"),
        ("user", "", "`password` is empty"),
    ],
)
def test_from_credentials_rejects_unusable_credentials(
    username: str, password: str, problem: str
) -> None:
    with pytest.raises(DockerConfigError, match=problem) as info:
        AuthEntry.from_credentials(username, password)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        pytest.param("{", "not valid JSON", id="not-json"),
        pytest.param(b'{"auths": {"\xff": {}}}', "not valid JSON", id="not-utf8"),
        pytest.param("[" * 100_000, "not valid JSON", id="absurd-nesting"),
        pytest.param("[]", "document is not a JSON object", id="not-object"),
        pytest.param(f'"{SECRET}"', "document is not a JSON object", id="string-document"),
        pytest.param('{"auths": []}', "`auths` is not a JSON object", id="auths-list"),
        pytest.param('{"auths": null}', "`auths` is not a JSON object", id="auths-null"),
        pytest.param('{"auths": {}}', "no registries", id="auths-empty"),
        pytest.param("{}", "no registries", id="legacy-empty"),
        pytest.param(auths({"ghcr.io": SECRET}), "not a JSON object", id="entry-string"),
        pytest.param(auths({"ghcr.io": {"auth": SECRET + "%"}}), "not valid base64", id="base64"),
        pytest.param(
            auths({"ghcr.io": {"auth": b64(b"\xff" + SECRET.encode())}}),
            "does not decode to UTF-8",
            id="auth-not-utf8",
        ),
        pytest.param(
            auths({"ghcr.io": {"auth": b64(SECRET.encode())}}), "user:password", id="no-colon"
        ),
        pytest.param(
            auths({"ghcr.io": {"identitytoken": SECRET}}), "needs `auth`", id="identitytoken"
        ),
        pytest.param(
            auths({"ghcr.io": {"registrytoken": SECRET}}), "needs `auth`", id="registrytoken"
        ),
        pytest.param(auths({"ghcr.io": {"username": "u"}}), "needs `auth`", id="no-password"),
        pytest.param(auths({"ghcr.io": {"password": SECRET}}), "needs `auth`", id="no-username"),
        pytest.param(auths({"ghcr.io": {"auth": ""}}), "needs `auth`", id="empty-auth"),
        pytest.param(
            auths({"ghcr.io": {"username": "", "password": SECRET}}),
            "`username` is empty",
            id="empty-username",
        ),
        pytest.param(
            auths({"ghcr.io": {"username": "u", "password": ""}}),
            "`password` is empty",
            id="empty-password",
        ),
        pytest.param(
            auths({"ghcr.io": {"username": "a:b", "password": SECRET}}),
            "`username` contains ':'",
            id="colon-in-username",
        ),
        pytest.param(
            auths({"ghcr.io": {"username": "u", "password": 5}}),
            "`password` must be a string",
            id="password-not-string",
        ),
        pytest.param(
            auths({"ghcr.io": {"auth": AUTH, "email": ["x"]}}),
            "`email` must be a string",
            id="email-not-string",
        ),
        pytest.param(
            auths({"ghcr.io": {"auth": 12}}), "`auth` must be a string", id="auth-not-string"
        ),
        pytest.param(
            '{"auths": {"ghcr.io": {"username": "u", "password": "hunter2\\ud800"}}}',
            "not valid Unicode",
            id="lone-surrogate",
        ),
        pytest.param(auths({"bad host": {"auth": AUTH}}), "registry key is invalid", id="key"),
        pytest.param(
            auths({f"https://user:{SECRET}@ghcr.io": {"auth": AUTH}}),
            "holds credentials",
            id="credentials-in-key",
        ),
        pytest.param(
            auths({"quay.io": {"auth": AUTH}, "ghcr.io": {"auth": SECRET}}),
            "not valid base64",
            id="second-entry-bad",
        ),
    ],
)
def test_parse_errors_say_what_and_never_the_value(payload: str | bytes, problem: str) -> None:
    with pytest.raises(DockerConfigError) as info:
        DockerConfig.parse(payload)
    message = str(info.value)
    assert problem in message
    assert "hunter2" not in message
    assert AUTH not in message
    entry_level = isinstance(payload, str) and payload.startswith('{"auths": {"ghcr.io"')
    if entry_level:
        assert message.startswith("registry key 'ghcr.io': ")


def test_parse_errors_name_the_registry_key() -> None:
    with pytest.raises(DockerConfigError, match=r"registry key 'quay\.io': .*base64"):
        DockerConfig.parse(auths({"ghcr.io": {"auth": AUTH}, "quay.io": {"auth": "%"}}))


def test_parse_fills_credentials_from_auth() -> None:
    config = DockerConfig.parse(auths({DOCKER_HUB: {"auth": AUTH, "identitytoken": "tok"}}))
    entry = config.auths[DOCKER_HUB]
    assert (entry.username, entry.password, entry.auth, entry.email) == ("user", SECRET, AUTH, None)


def test_parse_computes_auth_from_username_and_password() -> None:
    config = DockerConfig.parse(
        auths({"ghcr.io": {"username": "u", "password": "a:b", "email": "e@x"}})
    )
    assert config.auths["ghcr.io"] == AuthEntry(encode_auth("u", "a:b"), "u", "a:b", "e@x")


def test_parse_keeps_explicit_fields_next_to_auth() -> None:
    config = DockerConfig.parse(auths({"ghcr.io": {"auth": AUTH, "username": "other"}}))
    assert config.auths["ghcr.io"].username == "other"
    assert config.auths["ghcr.io"].password == SECRET


def test_parse_accepts_legacy_dockercfg_bytes_and_str() -> None:
    modern = DockerConfig.parse(auths({"https://index.docker.io/v1/": {"auth": AUTH}}))
    legacy = DockerConfig.parse(json.dumps({"docker.io": {"auth": AUTH}}))
    as_bytes = DockerConfig.parse(json.dumps({"docker.io": {"auth": AUTH}}).encode())
    assert modern == legacy == as_bytes
    assert modern.registries == (DOCKER_HUB,)


def test_parse_ignores_other_top_level_fields() -> None:
    config = DockerConfig.parse(
        json.dumps({"auths": {"ghcr.io": {"auth": AUTH}}, "credsStore": "desktop"})
    )
    assert config.registries == ("ghcr.io",)


def test_first_key_in_document_order_wins() -> None:
    alike = DockerConfig.parse(
        auths({"docker.io": {"auth": AUTH}, DOCKER_HUB: {"username": "b", "password": "c"}})
    )
    assert alike.auths[DOCKER_HUB].username == "user"
    duplicate = DockerConfig.parse(
        '{"auths":{"ghcr.io":{"auth":"' + AUTH + '"},"ghcr.io":{"auth":"Yjpj"}}}'
    )
    assert duplicate.auths["ghcr.io"].username == "user"


def test_constructor_normalises_keys_first_wins() -> None:
    first, second = AuthEntry.from_credentials("a", "1"), AuthEntry.from_credentials("b", "2")
    config = DockerConfig({"https://GHCR.io/": first, "ghcr.io": second})
    assert config == DockerConfig({"ghcr.io": first})


def test_equality_and_hash_ignore_insertion_order() -> None:
    a, b = AuthEntry.from_credentials("a", "1"), AuthEntry.from_credentials("b", "2")
    one = DockerConfig({"ghcr.io": a, "quay.io": b})
    other = DockerConfig({"quay.io": b, "ghcr.io": a})
    assert one == other
    assert hash(one) == hash(other)
    assert one.to_json() == other.to_json()
    assert one != DockerConfig({"ghcr.io": a})
    assert one != "not a config"


def test_reprs_hide_credentials() -> None:
    config = DockerConfig.single("ghcr.io", "me", SECRET, "me@example.com")
    entry = config.auths["ghcr.io"]
    for text in (repr(config), repr(entry), str(config), str(entry)):
        assert SECRET not in text
        assert entry.auth not in text
    assert "ghcr.io" in repr(config)


def test_auths_is_read_only() -> None:
    config = DockerConfig.single("ghcr.io", "me", SECRET)
    with pytest.raises(TypeError):
        config.auths["quay.io"] = config.auths["ghcr.io"]  # type: ignore[index]


# Strategies: registries in any accepted spelling, credentials in any printable Unicode.
LABEL = r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?"
registries = st.one_of(
    st.from_regex(
        rf"(https?://)?{LABEL}(\.{LABEL}){{0,2}}(:[1-9][0-9]{{0,3}})?(/[a-z0-9]{{1,4}}){{0,2}}/?",
        fullmatch=True,
    ),
    st.sampled_from(["docker.io", DOCKER_HUB, "registry-1.docker.io/v2/", "ghcr.io"]),
)
# Lone surrogates are excluded: they are not text and cannot be encoded (a tested rejection).
usernames = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters=":"), min_size=1, max_size=12
)
passwords = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=16)
emails = st.none() | st.text(st.characters(exclude_categories=["Cs"]), max_size=12)


@st.composite
def entries(draw: st.DrawFn) -> AuthEntry:
    username, password, email = draw(usernames), draw(passwords), draw(emails)
    if draw(st.booleans()):
        return AuthEntry.from_credentials(username, password, email)
    return AuthEntry(encode_auth(username, password), email=email)


configs = st.dictionaries(registries, entries(), min_size=1, max_size=4).map(DockerConfig)


@given(configs)
def test_round_trip(config: DockerConfig) -> None:
    data = config.to_json()
    assert DockerConfig.parse(data) == config
    assert DockerConfig.parse(data.decode()) == config
    assert DockerConfig.parse(data).to_json() == data


@given(st.one_of(st.text(max_size=60), st.binary(max_size=60)))
def test_parse_rejects_junk_with_its_own_error(data: str | bytes) -> None:
    with contextlib.suppress(DockerConfigError):
        DockerConfig.parse(data)


# The marker cannot occur in a message unless the secret itself was echoed.
secrets = passwords.map(lambda p: "\u00a7" + p)


@given(registries, secrets)
def test_bad_entries_never_echo_the_secret(registry: str, secret: str) -> None:
    bad_entries = [
        {"auth": encode_auth("", secret).rstrip("=") + "!"},
        {"auth": b64(secret.replace(":", "").encode() or b"x")},
        {"identitytoken": secret},
        {"username": "a:b", "password": secret},
    ]
    for entry in bad_entries:
        with pytest.raises(DockerConfigError) as info:
            DockerConfig.parse(auths({registry: entry}))
        assert secret not in str(info.value)
        assert encode_auth("", secret) not in str(info.value)


@given(st.lists(configs, min_size=1, max_size=5), st.randoms(use_true_random=False))
def test_merge_precedence_and_determinism(items: list[DockerConfig], rnd: random.Random) -> None:
    merged, overridden = merge(items)

    expected: dict[str, AuthEntry] = {}
    seen_in: dict[str, int] = {}
    for config in items:
        for registry, entry in config.auths.items():
            expected.setdefault(registry, entry)
            seen_in[registry] = seen_in.get(registry, 0) + 1
    assert dict(merged.auths) == expected
    assert overridden == tuple(sorted(r for r, n in seen_in.items() if n > 1))

    shuffled = []
    for config in items:
        pairs = list(config.auths.items())
        rnd.shuffle(pairs)
        shuffled.append(DockerConfig(dict(pairs)))
    assert merge(shuffled)[0].to_json() == merged.to_json()
    assert merge(items) == (merged, overridden)
    assert merge(list(reversed(items)))[0].registries == merged.registries
    assert merge([items[0]]) == (items[0], ())


def test_merge_earliest_wins_and_reports_overrides() -> None:
    first = DockerConfig.single("docker.io", "first", "1")
    second = DockerConfig(
        {
            DOCKER_HUB: AuthEntry.from_credentials("second", "2"),
            "ghcr.io": AuthEntry.from_credentials("g", "3"),
        }
    )
    third = DockerConfig.single("https://ghcr.io/", "third", "4")
    merged, overridden = merge([first, second, third])
    assert merged.auths[DOCKER_HUB].username == "first"
    assert merged.auths["ghcr.io"].username == "g"
    assert overridden == ("ghcr.io", DOCKER_HUB)
    assert merge([]) == (DockerConfig({}), ())


def test_normalize_registry_is_used_for_every_key() -> None:
    config = DockerConfig.single("HTTP://Quay.IO/v2/", "u", "p")
    assert config.registries == (normalize_registry("quay.io"),)


def test_a_secret_listing_more_registries_than_the_cap_is_invalid() -> None:
    auths = {f"r{i}.example": {"auth": encode_auth("u", "p")} for i in range(MAX_REGISTRIES + 1)}
    with pytest.raises(DockerConfigError, match=f"more than the {MAX_REGISTRIES}"):
        DockerConfig.parse(json.dumps({"auths": auths}))
    del auths["r0.example"]
    assert len(DockerConfig.parse(json.dumps({"auths": auths})).registries) == MAX_REGISTRIES
