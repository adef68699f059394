"""Builds, parses and merges kubernetes.io/dockerconfigjson payloads (pure, no I/O).

Normalisation: each registry gets one key, whatever form a user wrote.

- Every Docker Hub spelling (`docker.io`, `index.docker.io`, `registry-1.docker.io`,
  `registry.hub.docker.com`, any letter case, with or without `http(s)://`, `/v1`, `/v2` or
  trailing slashes) becomes `https://index.docker.io/v1/`, the key docker and the kubelet use
  for Docker Hub.
- Any other registry loses its `http(s)://` scheme, trailing slashes and trailing `/v1` or `/v2`
  API suffixes; its host is lower-cased; a port and a path prefix are kept as written
  (`https://GHCR.io/` -> `ghcr.io`, `registry.gitlab.com/group/sub/` ->
  `registry.gitlab.com/group/sub`).
- Leading and trailing whitespace is ignored; empty input, whitespace inside, credentials in
  the URL (`user:pass@host`) and anything that is not a host name or IP address with an
  optional port are rejected.
- Normalising is idempotent.

Precedence: whenever two entries name the same normalised registry, the earliest wins. Inside
one payload that is document order (an exact duplicate JSON key included); across payloads given
to `merge` it is the order of the sequence, which is the order of a manager's `spec.secrets`.
`merge` reports the registries whose later entries were overridden.

Every entry is canonical once built: `username` and `password` are filled from `auth` when
absent, and an empty `email` is dropped, so `DockerConfig.parse(c.to_json()) == c`.

Nothing here puts a password, token or `auth` value into an exception message or a repr;
registry keys that are echoed have any `user:password@` part masked.
"""

import base64
import binascii
import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = [
    "DOCKER_HUB",
    "MAX_REGISTRIES",
    "AuthEntry",
    "DockerConfig",
    "DockerConfigError",
    "covers",
    "encode_auth",
    "image_location",
    "merge",
    "normalize_registry",
]

DOCKER_HUB = "https://index.docker.io/v1/"

_HUB_HOSTS = frozenset(
    {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
)
_SCHEME = re.compile(r"^https?://", re.IGNORECASE)
_HOST_PORT = re.compile(r"^(?P<host>\[[^\]]*\]|[^:]*)(?::(?P<port>[0-9]{1,5}))?$")
_LABEL = re.compile(r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$")
_PATH = re.compile(r"^[-._a-zA-Z0-9/]*$")
_API_SUFFIX = re.compile(r"(?:^|/)v[12]$")
# Greedy up to the last `@`: a password may itself hold `/` or `@`.
_USERINFO = re.compile(r"^((?:[a-z][a-z0-9+.-]*://)?).*@", re.IGNORECASE)
# Long enough to recognise a registry in a message, short enough to keep a hostile key harmless.
_MAX_ECHO = 80


class DockerConfigError(ValueError):
    """A payload or registry that cannot be used; the message never holds credentials."""


# The registries one pull Secret may list; beyond, the Secret is invalid (real ones list a few).
MAX_REGISTRIES = 256


def _describe(key: str) -> str:
    """`key` fit for an error message: credentials in a URL are masked, and it is shortened."""
    masked = _USERINFO.sub(r"\1***@", key)
    if len(masked) > _MAX_ECHO:
        masked = masked[:_MAX_ECHO] + "..."
    return repr(masked)


def _valid_host(host: str) -> bool:
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return True
    if not host or len(host) > 253:
        return False
    # Dotted quads also pass the label rule, so IPv4 addresses need no separate branch.
    return all(_LABEL.match(label) for label in host.split("."))


def normalize_registry(registry: str) -> str:
    """Return the one key under which `registry` is stored (rules in the module docstring)."""
    text = registry.strip() if isinstance(registry, str) else ""
    if not text:
        raise DockerConfigError("registry is empty")
    if any(c.isspace() for c in text):
        raise DockerConfigError(f"registry {_describe(text)} contains whitespace")
    if "@" in text:
        raise DockerConfigError(
            f"registry {_describe(text)} holds credentials; put them in the entry instead"
        )
    authority, _, path = _SCHEME.sub("", text).partition("/")
    authority = authority.lower()
    match = _HOST_PORT.match(authority)
    port = match.group("port") if match else None
    if (
        match is None
        or not _valid_host(match.group("host"))
        or (port is not None and not 0 < int(port) <= 65535)
    ):
        raise DockerConfigError(f"registry {_describe(text)} is not a host name or IP[:port]")
    path = path.strip("/")
    # Strip repeatedly so `x/v1/v2` and `x/v1` both end where `x` does: that keeps it idempotent.
    while (shorter := _API_SUFFIX.sub("", path).strip("/")) != path:
        path = shorter
    if not _PATH.match(path):
        raise DockerConfigError(f"registry {_describe(text)} has a path a registry cannot use")
    if authority in _HUB_HOSTS and not path:
        return DOCKER_HUB
    return f"{authority}/{path}" if path else authority


def encode_auth(username: str, password: str) -> str:
    """Return the `auth` field: standard, padded base64 of `username:password` in UTF-8."""
    try:
        return base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    except UnicodeEncodeError:
        raise DockerConfigError("username or password is not valid Unicode text") from None


def _decode_auth(auth: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(auth, validate=True)
    except (binascii.Error, ValueError):
        raise DockerConfigError("`auth` is not valid base64") from None
    try:
        text = decoded.decode()
    except UnicodeDecodeError:
        raise DockerConfigError("`auth` does not decode to UTF-8 text") from None
    user, colon, secret = text.partition(":")
    if not colon:
        raise DockerConfigError("`auth` does not decode to user:password")
    return user, secret


@dataclass(frozen=True)
class AuthEntry:
    """The credentials of one registry, made canonical when built.

    `username` and `password` are filled from `auth` when absent; explicit values are kept as
    given. `auth` and `password` are left out of the repr.
    """

    auth: str = field(repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    email: str | None = None

    def __post_init__(self) -> None:
        """Check `auth` and fill the fields it implies, so equal credentials compare equal."""
        if not self.auth:
            raise DockerConfigError("`auth` is empty")
        user, secret = _decode_auth(self.auth)
        if self.username is None:
            object.__setattr__(self, "username", user)
        if self.password is None:
            object.__setattr__(self, "password", secret)
        if not self.email:
            # The payload omits an empty email, so keeping "" would break the round trip.
            object.__setattr__(self, "email", None)

    @classmethod
    def from_credentials(
        cls, username: str, password: str, email: str | None = None
    ) -> "AuthEntry":
        """Build an entry whose `auth` is computed from a username and password."""
        _check_credentials(username, password)
        return cls(encode_auth(username, password), username, password, email)

    def to_json_object(self) -> dict[str, str]:
        """Return the entry as it appears under `auths`, with only the fields that are set."""
        out = {"auth": self.auth}
        if self.username is not None:
            out["username"] = self.username
        if self.password is not None:
            out["password"] = self.password
        if self.email:
            out["email"] = self.email
        return out


def _check_credentials(username: str, password: str) -> None:
    if not username:
        raise DockerConfigError("`username` is empty")
    if ":" in username:
        # The kubelet prefers `auth` and splits it at the first colon, so it would read a
        # different username and password than the ones written.
        raise DockerConfigError("`username` contains ':'")
    if not password:
        raise DockerConfigError("`password` is empty")


@dataclass(frozen=True)
class DockerConfig:
    """A set of registry credentials keyed by normalised registry, in sorted order.

    Keys given to the constructor are normalised; if two normalise alike, the first wins.
    """

    auths: Mapping[str, AuthEntry] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Normalise keys and freeze them in sorted order so equal configs compare equal."""
        entries: dict[str, AuthEntry] = {}
        for key, entry in self.auths.items():
            entries.setdefault(normalize_registry(key), entry)
        object.__setattr__(self, "auths", MappingProxyType(dict(sorted(entries.items()))))

    def __eq__(self, other: object) -> bool:
        """Configs are equal when they hold the same registries with the same entries."""
        if not isinstance(other, DockerConfig):
            return NotImplemented
        return dict(self.auths) == dict(other.auths)

    def __hash__(self) -> int:
        """Hash the sorted entries, consistent with `__eq__`."""
        return hash(tuple(self.auths.items()))

    def __repr__(self) -> str:
        """Show the registries only, so credentials stay out of logs."""
        return f"DockerConfig(registries={self.registries!r})"

    @classmethod
    def single(
        cls, registry: str, username: str, password: str, email: str | None = None
    ) -> "DockerConfig":
        """Build a config with credentials for one registry."""
        return cls({registry: AuthEntry.from_credentials(username, password, email)})

    @classmethod
    def parse(cls, data: bytes | str) -> "DockerConfig":
        """Parse and validate a `.dockerconfigjson` (or legacy `.dockercfg`) payload.

        Raises `DockerConfigError` naming the problem and the registry key, never a value.
        """
        try:
            document = json.loads(data, object_pairs_hook=_first_wins)
        except (ValueError, RecursionError):
            # UnicodeDecodeError is a ValueError; RecursionError comes from absurd nesting.
            raise DockerConfigError("not valid JSON") from None
        if not isinstance(document, dict):
            raise DockerConfigError("the document is not a JSON object")
        # Without `auths` it is the legacy .dockercfg form: registries at the top level.
        auths = document.get("auths", document)
        if not isinstance(auths, dict):
            raise DockerConfigError("`auths` is not a JSON object")
        if not auths:
            raise DockerConfigError("no registries in `auths`")
        if len(auths) > MAX_REGISTRIES:
            # Every Secret's registries are kept in memory: a tenant's 26,000 would stay there.
            raise DockerConfigError(
                f"{len(auths)} registries in `auths`, more than the {MAX_REGISTRIES} "
                "one pull Secret may list"
            )
        parsed: dict[str, AuthEntry] = {}
        for key, raw in auths.items():
            registry = _normalize_key(key)
            try:
                entry = _parse_entry(raw)
            except DockerConfigError as e:
                raise DockerConfigError(f"registry key {_describe(key)}: {e}") from None
            parsed.setdefault(registry, entry)
        return cls(parsed)

    def to_json(self) -> bytes:
        """Return deterministic bytes: sorted keys, compact separators, UTF-8, no newline."""
        document = {"auths": {k: v.to_json_object() for k, v in self.auths.items()}}
        return json.dumps(
            document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()

    @property
    def registries(self) -> tuple[str, ...]:
        """Return the normalised registries, sorted."""
        return tuple(self.auths)


def _first_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json keeps the last of duplicate keys; the documented precedence is the first.
    out: dict[str, Any] = {}
    for key, value in pairs:
        out.setdefault(key, value)
    return out


def _normalize_key(key: str) -> str:
    try:
        return normalize_registry(key)
    except DockerConfigError as e:
        raise DockerConfigError(f"registry key is invalid: {e}") from None


def _string(raw: Mapping[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise DockerConfigError(f"`{name}` must be a string")
    try:
        value.encode()
    except UnicodeEncodeError:
        # A lone surrogate escape (`\ud800`) parses but cannot be written back out.
        raise DockerConfigError(f"`{name}` is not valid Unicode text") from None
    return value


def _parse_entry(raw: object) -> AuthEntry:
    if not isinstance(raw, dict):
        raise DockerConfigError("the entry is not a JSON object")
    auth = _string(raw, "auth")
    username = _string(raw, "username")
    password = _string(raw, "password")
    email = _string(raw, "email")
    if auth:
        return AuthEntry(auth, username, password, email)
    if username is not None and password is not None:
        return AuthEntry.from_credentials(username, password, email)
    # An identity or registry token alone is for a credential helper, not for the kubelet.
    raise DockerConfigError("needs `auth`, or `username` and `password`")


def merge(configs: Sequence[DockerConfig]) -> tuple[DockerConfig, tuple[str, ...]]:
    """Combine configs; the earliest wins per registry.

    Returns the merged config and the registries whose later entries were dropped (sorted,
    unique). The result does not depend on insertion order inside each config.
    """
    merged: dict[str, AuthEntry] = {}
    overridden: set[str] = set()
    for config in configs:
        for registry, entry in config.auths.items():
            if registry in merged:
                overridden.add(registry)
            else:
                merged[registry] = entry
    return DockerConfig(merged), tuple(sorted(overridden))


def image_location(image: str) -> str:
    """Registry host and repository of an image reference, as `host/path` (no tag or digest).

    Docker's rules: a first component with a dot or colon, or `localhost`, is a registry
    host; anything else lives on Docker Hub (`docker.io`, `library/` for bare names).
    """
    name = image.split("@", 1)[0]
    head, _, rest = name.partition("/")
    if rest and ("." in head or ":" in head or head == "localhost"):
        host, path = head.lower(), rest
    else:
        host, path = "docker.io", name if rest else f"library/{name}"
    last = path.rsplit("/", 1)
    last[-1] = last[-1].split(":", 1)[0]
    return f"{host}/{'/'.join(last)}"


def covers(registry: str, image: str) -> bool:
    """Whether credentials stored under the normalised key `registry` apply to `image`."""
    location = image_location(image)
    if registry == DOCKER_HUB:
        return location.split("/", 1)[0] in _HUB_HOSTS
    return location == registry or location.startswith(registry + "/")
