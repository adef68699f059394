"""Parses image references as the container runtimes do, and maps sources to backup names.

The mapping rule (documented in the README): a source `host[:port]/path[:tag][@digest]`
is backed up as `<backup-host>/<prefix>/<host[_port]>/<path>`, with Docker Hub spelled
`docker.io` and its official images under `library/`. It is collision-free: the source host
becomes exactly one path component (a registry host holds no `_` and no `/`, so `:` → `_` is
reversible) and the source path follows unchanged, so two sources differing by registry or by
path never share a backup repository.
"""

import re
from dataclasses import dataclass

DOCKER_HUB = "docker.io"
_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_OFFICIAL = "library"

# The distribution reference grammar (github.com/distribution/reference), IPv6 hosts aside.
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_HOST_RE = re.compile(rf"^{_HOST}$")
_REMAINDER = re.compile(
    rf"^(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)
SHA256_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
MAX_NAME = 255  # host plus path, the limit the distribution grammar sets


class InvalidReference(ValueError):
    """An image reference that cannot be parsed or mapped."""


@dataclass(frozen=True)
class ImageRef:
    """A normalised reference: explicit host, full path, optional tag and digest."""

    host: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        """host/path."""
        return f"{self.host}/{self.path}"

    @property
    def name(self) -> str:
        """The reference as written after normalisation."""
        tag = f":{self.tag}" if self.tag else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{self.repository}{tag}{digest}"


def _looks_like_host(part: str) -> bool:
    # The runtimes' rule: a first component with a dot or a port, or `localhost`, is a host.
    return "." in part or ":" in part or part == "localhost"


def parse(reference: str) -> ImageRef:
    """Normalise a reference the way Docker and containerd do (`nginx` → `docker.io/library/nginx`).

    A reference without tag or digest means `latest`, as it does to the runtimes.
    """
    first, slash, rest = reference.partition("/")
    host, remainder = (first, rest) if slash and _looks_like_host(first) else ("", reference)
    match = _REMAINDER.match(remainder)
    if match is None or (host and not _HOST_RE.match(host)):
        raise InvalidReference(f"not a valid image reference: {reference!r}")
    host = normalise_host(host or DOCKER_HUB)
    path = match["path"]
    if host == DOCKER_HUB and "/" not in path:
        path = f"{_OFFICIAL}/{path}"
    tag, digest = match["tag"], match["digest"]
    if tag is None and digest is None:
        tag = "latest"
    return ImageRef(host, path, tag, digest)


def normalise_host(host: str) -> str:
    """A registry host as references name it after parsing (lower case, Docker Hub unified)."""
    lowered = host.lower()
    return DOCKER_HUB if lowered in _DOCKER_HUB_ALIASES else lowered


def host_component(host: str) -> str:
    """A registry host as one repository path component: lower case, `:port` as `_port`."""
    component = host.lower().replace(":", "_")
    if not re.fullmatch(_COMPONENT, component):
        raise InvalidReference(f"registry host {host!r} cannot be a repository path component")
    return component


def backup_repository(source: ImageRef, backup_host: str, prefix: str | None) -> str:
    """`<backup-host>/<prefix>/<source-host>/<source-path>`: where `source` is backed up."""
    parts = [backup_host.lower(), *([prefix] if prefix else []), host_component(source.host)]
    repository = "/".join([*parts, source.path])
    if len(repository) > MAX_NAME:
        raise InvalidReference(f"backup name of {source.repository} exceeds {MAX_NAME} characters")
    return repository


def digest_tag(digest: str) -> str:
    """The tag a backup is pushed under: `sha256-<hex>`, immutable and unique per digest.

    A source tag moves; pushing under it would leave an older backup untagged (and open to
    garbage collection) while workloads still pin it.
    """
    if not SHA256_DIGEST.match(digest):
        raise InvalidReference(f"unsupported digest {digest!r}")
    return digest.replace(":", "-")


def pinned(source: ImageRef, repository: str, digest: str, *, keep_tag: bool) -> str:
    """The reference workloads are pointed at: `repo[:tag]@digest`, checked to parse again."""
    tag = f":{source.tag}" if keep_tag and source.tag else ""
    reference = f"{repository}{tag}@{digest}"
    parsed = parse(reference)
    if parsed.digest != digest or parsed.repository != repository:
        raise InvalidReference(f"backup reference {reference!r} does not round-trip")
    return reference


def in_registry(reference: ImageRef, host: str, prefix: str | None) -> bool:
    """Whether a reference already lives in the backup registry (under the prefix)."""
    if reference.host != host.lower():
        return False
    return prefix is None or reference.path == prefix or reference.path.startswith(f"{prefix}/")
