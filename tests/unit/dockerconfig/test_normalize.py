"""Registry normalisation: one key per registry, idempotent, no credentials echoed."""

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cheiron.dockerconfig import (
    DOCKER_HUB,
    DockerConfigError,
    covers,
    image_location,
    normalize_registry,
)

HUB_HOSTS = ["docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"]
SCHEMES = ["", "http://", "https://"]
SUFFIXES = ["", "/", "//", "/v1", "/v1/", "/v2", "/v2/"]
HUB_FORMS = [
    *("".join(parts) for parts in itertools.product(SCHEMES, HUB_HOSTS, SUFFIXES)),
    "Docker.IO",
    "HTTPS://Index.Docker.IO/v1/",
    "Registry-1.DOCKER.io/v2/",
    "  docker.io  ",
    DOCKER_HUB,
]


@pytest.mark.parametrize("form", HUB_FORMS)
def test_every_docker_hub_form_maps_to_the_hub_key(form: str) -> None:
    assert normalize_registry(form) == DOCKER_HUB


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("ghcr.io", "ghcr.io"),
        ("https://GHCR.io/", "ghcr.io"),
        ("http://quay.io", "quay.io"),
        ("localhost:5000", "localhost:5000"),
        ("http://127.0.0.1:5000/v2/", "127.0.0.1:5000"),
        ("https://[::1]:5000/v1", "[::1]:5000"),
        ("registry.gitlab.com/group/sub/", "registry.gitlab.com/group/sub"),
        ("https://Registry.GitLab.com/Group/Sub/v2/", "registry.gitlab.com/Group/Sub"),
        ("harbor.example.com/v2/v1/", "harbor.example.com"),
        ("harbor.example.com/v1/project", "harbor.example.com/v1/project"),
        (
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        ),
        ("europe-docker.pkg.dev/my-project", "europe-docker.pkg.dev/my-project"),
        # A path under the Hub is a different key: the kubelet matches it as a prefix.
        ("docker.io/library", "docker.io/library"),
        ("docker.io:443", "docker.io:443"),
    ],
)
def test_other_registries(written: str, expected: str) -> None:
    assert normalize_registry(written) == expected


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("ghcr .io", "whitespace"),
        ("ghcr.io/a\tb", "whitespace"),
        ("https://", "not a host name"),
        ("/v2/", "not a host name"),
        ("bad_host!", "not a host name"),
        ("-x.io", "not a host name"),
        ("x-.io", "not a host name"),
        ("ghcr.io.", "not a host name"),
        ("a..b", "not a host name"),
        ("localhost:99999", "not a host name"),
        ("localhost:0", "not a host name"),
        ("localhost:", "not a host name"),
        ("[not-ipv6]:5000", "not a host name"),
        ("[::1", "not a host name"),
        ("oci://ghcr.io", "not a host name"),
        ("ghcr.io/a?b=c", "path"),
        ("https://me:hunter2@ghcr.io", "credentials"),
        ("me:hun/ter@2@ghcr.io", "credentials"),
    ],
)
def test_invalid_registries(bad: str, problem: str) -> None:
    with pytest.raises(DockerConfigError) as info:
        normalize_registry(bad)
    assert problem in str(info.value)
    assert "hunter2" not in str(info.value)
    assert "ter@2" not in str(info.value)


LABEL = r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,8}[a-zA-Z0-9])?"
registries = st.tuples(
    st.sampled_from(["", "http://", "https://", "HTTPS://", "  "]),
    st.one_of(
        st.from_regex(rf"{LABEL}(\.{LABEL}){{0,3}}(:[1-9][0-9]{{0,3}})?", fullmatch=True),
        st.sampled_from(HUB_HOSTS),
    ),
    st.from_regex(r"(/[-._a-zA-Z0-9]{1,6}){0,3}", fullmatch=True),
    st.sampled_from(["", "/", "/v1", "/v2/", "/v1/v2", "//"]),
).map("".join)


@given(registries)
def test_normalisation_of_valid_registries_is_idempotent(registry: str) -> None:
    once = normalize_registry(registry)
    assert normalize_registry(once) == once
    assert once == once.strip()
    assert not once.endswith("/") or once == DOCKER_HUB


@given(st.text(max_size=40))
def test_normalisation_of_any_text_is_idempotent_or_rejected(registry: str) -> None:
    try:
        once = normalize_registry(registry)
    except DockerConfigError:
        return
    assert normalize_registry(once) == once


@pytest.mark.parametrize(
    ("image", "location"),
    [
        ("nginx", "docker.io/library/nginx"),
        ("nginx:1.27", "docker.io/library/nginx"),
        ("team/app:1", "docker.io/team/app"),
        ("ghcr.io/team/app:1", "ghcr.io/team/app"),
        ("GHCR.io/team/app@sha256:abc", "ghcr.io/team/app"),
        ("localhost:5000/app:dev", "localhost:5000/app"),
        ("registry.gitlab.com/g/sub/app:1", "registry.gitlab.com/g/sub/app"),
    ],
)
def test_image_location(image: str, location: str) -> None:
    assert image_location(image) == location


@pytest.mark.parametrize(
    ("registry", "image", "expected"),
    [
        (DOCKER_HUB, "nginx", True),
        (DOCKER_HUB, "docker.io/team/app", True),
        (DOCKER_HUB, "ghcr.io/team/app", False),
        ("ghcr.io", "ghcr.io/team/app:1", True),
        ("ghcr.io", "ghcr.io.evil.com/team/app", False),
        ("registry.gitlab.com/g", "registry.gitlab.com/g/app", True),
        ("registry.gitlab.com/g", "registry.gitlab.com/other/app", False),
    ],
)
def test_covers(registry: str, image: str, expected: bool) -> None:
    assert covers(registry, image) is expected
