"""Image references are normalised like the runtimes do, and map to collision-free backups."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cheiron.images.reference import (
    ImageRef,
    InvalidReference,
    backup_repository,
    digest_tag,
    in_registry,
    parse,
    pinned,
)

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("written", "normalised"),
    [
        ("nginx", "docker.io/library/nginx:latest"),
        ("nginx:1.25", "docker.io/library/nginx:1.25"),
        ("bitnami/redis:7", "docker.io/bitnami/redis:7"),
        ("index.docker.io/nginx", "docker.io/library/nginx:latest"),
        ("registry-1.docker.io/library/nginx:1", "docker.io/library/nginx:1"),
        ("docker.io/team/app:1", "docker.io/team/app:1"),
        ("GHCR.io/org/app:v1", "ghcr.io/org/app:v1"),
        ("localhost/app", "localhost/app:latest"),
        ("127.0.0.1:5000/a/b/c:x", "127.0.0.1:5000/a/b/c:x"),
        (f"quay.io/a/b@{DIGEST}", f"quay.io/a/b@{DIGEST}"),
        (f"quay.io/a/b:1@{DIGEST}", f"quay.io/a/b:1@{DIGEST}"),
    ],
)
def test_parse_normalises(written: str, normalised: str) -> None:
    assert parse(written).name == normalised


@pytest.mark.parametrize("bad", ["", "Nginx", "a/b:c:d", "a//b", "ghcr.io/", "a@sha256:zz", "-x"])
def test_parse_refuses(bad: str) -> None:
    with pytest.raises(InvalidReference):
        parse(bad)


def test_mapping_rule() -> None:
    backup = "backup.example.com:5000"
    assert (
        backup_repository(parse("nginx"), backup, "mirror")
        == "backup.example.com:5000/mirror/docker.io/library/nginx"
    )
    assert (
        backup_repository(parse("127.0.0.1:5000/team/app:1"), backup, None)
        == "backup.example.com:5000/127.0.0.1_5000/team/app"
    )


def test_registry_or_path_differences_never_collide() -> None:
    sources = [
        "ghcr.io/a/b",
        "quay.io/a/b",
        "ghcr.io/a/b/c",
        "ghcr.io/a_b",
        "ghcr.io:443/a/b",
        "ghcr.io/ghcr.io/a/b",
        "nginx",
        "library/nginx",
        "docker.io/nginx",
        "a.io/b/c",
        "a.io/b_c",
    ]
    names = {backup_repository(parse(s), "bk.io", "p") for s in sources}
    # `nginx`, `library/nginx` and `docker.io/nginx` are one image; the others all differ.
    assert len(names) == len(sources) - 2


_WORD = st.text("abc019", min_size=1, max_size=3)
_COMPONENT = st.builds(
    lambda a, sep, b: f"{a}{sep}{b}" if b else a, _WORD, st.sampled_from("._-"), _WORD | st.just("")
)
_HOST = st.builds(
    lambda label, tld, port: f"{label}.{tld}{port}",
    st.from_regex(r"\A[a-z]([a-z0-9-]{0,3}[a-z0-9])?\Z"),
    st.sampled_from(["io", "com", "local"]),
    st.sampled_from(["", ":5000", ":443", ":50"]),
)


@given(
    st.tuples(_HOST, st.lists(_COMPONENT, min_size=1, max_size=3)),
    st.tuples(_HOST, st.lists(_COMPONENT, min_size=1, max_size=3)),
)
def test_mapping_is_injective(a: tuple[str, list[str]], b: tuple[str, list[str]]) -> None:
    ref_a, ref_b = (parse(f"{host}/{'/'.join(path)}") for host, path in (a, b))
    same_source = ref_a.repository == ref_b.repository
    mapped_a = backup_repository(ref_a, "backup.local:5000", "pre/fix")
    mapped_b = backup_repository(ref_b, "backup.local:5000", "pre/fix")
    assert (mapped_a == mapped_b) == same_source
    # And the backup name is itself a valid reference in the backup registry.
    assert parse(mapped_a).repository == mapped_a


def test_pinned_reference_round_trips() -> None:
    source = parse("nginx:1.25")
    repository = backup_repository(source, "bk.io", None)
    assert pinned(source, repository, DIGEST, keep_tag=True) == (
        f"bk.io/docker.io/library/nginx:1.25@{DIGEST}"
    )
    assert pinned(source, repository, DIGEST, keep_tag=False) == (
        f"bk.io/docker.io/library/nginx@{DIGEST}"
    )
    with pytest.raises(InvalidReference):
        pinned(source, repository, "sha256:short", keep_tag=True)


def test_digest_tag() -> None:
    assert digest_tag(DIGEST) == "sha256-" + "ab" * 32
    with pytest.raises(InvalidReference):
        digest_tag("md5:abc")


def test_too_long_backup_name_is_refused() -> None:
    with pytest.raises(InvalidReference, match="exceeds"):
        backup_repository(ImageRef("ghcr.io", "a" * 250), "bk.io", None)


def test_in_registry_respects_the_prefix() -> None:
    assert in_registry(parse("bk.io:5000/p/x:1"), "BK.io:5000", "p")
    assert not in_registry(parse("bk.io:5000/px/x:1"), "bk.io:5000", "p")
    assert not in_registry(parse("other.io/p/x"), "bk.io:5000", "p")
    assert in_registry(parse("bk.io/anything"), "bk.io", None)
