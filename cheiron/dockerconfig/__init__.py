"""Builds, parses and merges kubernetes.io/dockerconfigjson payloads (pure, no I/O).

Registry keys are normalised so that one registry has one key whatever form a user wrote:
- every Docker Hub spelling (`docker.io`, `index.docker.io`, `registry-1.docker.io`,
  `registry.hub.docker.com`, with or without scheme, `/v1`, `/v2` or trailing slashes) becomes
  `https://index.docker.io/v1/`, the key the kubelet and docker expect for Docker Hub;
- any other registry loses its `http(s)://` scheme, trailing slashes and a trailing `/v1` or
  `/v2` API suffix, and its host is lower-cased; a port and a path prefix are kept.

Precedence when several entries name the same registry: the earliest wins (the order of a
manager's `spec.secrets`); `merge` reports the registries that were overridden.

Nothing here puts a password, token or `auth` value into an exception message or a repr.
"""

import base64
import binascii
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

DOCKER_HUB = "https://index.docker.io/v1/"

_HUB_HOSTS = frozenset(
    {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
)
_HOST = re.compile(
    r"^(?:\[[0-9a-f:.]+\]|[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*)"
    r"(?::[0-9]{1,5})?$"
)
_PATH = re.compile(r"^[-._a-zA-Z0-9/]*$")


class DockerConfigError(ValueError):
    """A payload or registry that cannot be used; the message never holds credentials."""


def normalize_registry(registry: str) -> str:
    """The one key under which `registry` is stored (see the module docstring)."""
    text = registry.strip() if isinstance(registry, str) else ""
    if not text or any(c.isspace() for c in text):
        raise DockerConfigError("registry must be a non-empty host without whitespace")
    rest = re.sub(r"^https?://", "", text, flags=re.IGNORECASE)
    host, _, path = rest.partition("/")
    host = host.lower()
    path = path.strip("/")
    while (shorter := re.sub(r"(^|/)v[12]$", "", path).strip("/")) != path:
        path = shorter
    if not _HOST.match(host):
        raise DockerConfigError(f"registry host {host!r} is not a valid host name")
    if not _PATH.match(path):
        raise DockerConfigError(f"registry path {path!r} has characters a registry cannot use")
    if host in _HUB_HOSTS and not path:
        return DOCKER_HUB
    return f"{host}/{path}" if path else host


def encode_auth(username: str, password: str) -> str:
    """The `auth` field: base64 of `username:password`."""
    return base64.b64encode(f"{username}:{password}".encode()).decode()


@dataclass(frozen=True)
class AuthEntry:
    """The credentials of one registry."""

    auth: str = field(repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    email: str | None = None

    @classmethod
    def from_credentials(
        cls, username: str, password: str, email: str | None = None
    ) -> "AuthEntry":
        """An entry with `auth` computed from the username and password."""
        return cls(encode_auth(username, password), username, password, email or None)

    def to_json_object(self) -> dict[str, str]:
        """The entry as it appears under `auths` (only the fields that are set)."""
        out = {"auth": self.auth}
        if self.username is not None:
            out["username"] = self.username
        if self.password is not None:
            out["password"] = self.password
        if self.email:
            out["email"] = self.email
        return out


@dataclass(frozen=True)
class DockerConfig:
    """A set of registry credentials keyed by normalised registry, in sorted order."""

    auths: Mapping[str, AuthEntry] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Freeze the mapping in sorted order so equal configs compare and hash equal."""
        frozen = MappingProxyType(dict(sorted(self.auths.items())))
        object.__setattr__(self, "auths", frozen)

    def __eq__(self, other: object) -> bool:
        """Configs are equal when they hold the same entries."""
        if not isinstance(other, DockerConfig):
            return NotImplemented
        return dict(self.auths) == dict(other.auths)

    def __hash__(self) -> int:
        """Hash of the entries."""
        return hash(tuple(self.auths.items()))

    def __repr__(self) -> str:
        """Registries only: credentials stay out of logs."""
        return f"DockerConfig(registries={list(self.auths)!r})"

    @classmethod
    def single(
        cls, registry: str, username: str, password: str, email: str | None = None
    ) -> "DockerConfig":
        """A config with one registry."""
        return cls(
            {normalize_registry(registry): AuthEntry.from_credentials(username, password, email)}
        )

    @classmethod
    def parse(cls, data: bytes | str) -> "DockerConfig":
        """Parse and validate a `.dockerconfigjson` (or legacy `.dockercfg`) payload."""
        try:
            document = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise DockerConfigError("not valid JSON") from None
        if not isinstance(document, dict):
            raise DockerConfigError("the document is not a JSON object")
        # Without `auths` it is the legacy .dockercfg form: registries at the top level.
        auths = document.get("auths", document)
        if not isinstance(auths, dict):
            raise DockerConfigError("`auths` is not a JSON object")
        if not auths:
            raise DockerConfigError("no registries in `auths`")
        parsed: dict[str, AuthEntry] = {}
        for key, raw in auths.items():
            registry = _normalize_key(key)
            entry = _parse_entry(key, raw)
            parsed.setdefault(registry, entry)  # first in document order wins
        return cls(parsed)

    def to_json(self) -> bytes:
        """Deterministic bytes: sorted keys, compact separators, UTF-8."""
        document = {"auths": {k: v.to_json_object() for k, v in self.auths.items()}}
        return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()

    @property
    def registries(self) -> tuple[str, ...]:
        """The normalised registries, sorted."""
        return tuple(self.auths)

    def __iter__(self) -> Iterator[str]:
        """Iterate the registries."""
        return iter(self.auths)


def _normalize_key(key: str) -> str:
    try:
        return normalize_registry(key)
    except DockerConfigError as e:
        raise DockerConfigError(f"registry key {key!r}: {e}") from None


def _string(key: str, raw: Mapping[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise DockerConfigError(f"registry {key!r}: `{name}` must be a string")
    return value


def _parse_entry(key: str, raw: object) -> AuthEntry:
    if not isinstance(raw, dict):
        raise DockerConfigError(f"registry {key!r}: the entry is not a JSON object")
    auth = _string(key, raw, "auth")
    username = _string(key, raw, "username")
    password = _string(key, raw, "password")
    email = _string(key, raw, "email") or None
    if auth:
        try:
            decoded = base64.b64decode(auth, validate=True).decode()
        except (binascii.Error, ValueError):
            raise DockerConfigError(f"registry {key!r}: `auth` is not valid base64") from None
        user, colon, secret = decoded.partition(":")
        if not colon:
            raise DockerConfigError(f"registry {key!r}: `auth` does not decode to user:password")
        return AuthEntry(
            auth,
            username if username is not None else user,
            password if password is not None else secret,
            email,
        )
    if username and password is not None and password != "":
        return AuthEntry.from_credentials(username, password, email)
    raise DockerConfigError(f"registry {key!r}: needs `auth`, or `username` and `password`")


def merge(configs: Sequence[DockerConfig]) -> tuple[DockerConfig, tuple[str, ...]]:
    """One config from many; the earliest wins per registry, and the losers are reported."""
    merged: dict[str, AuthEntry] = {}
    overridden: set[str] = set()
    for config in configs:
        for registry, entry in config.auths.items():
            if registry in merged:
                overridden.add(registry)
                continue
            merged[registry] = entry
    return DockerConfig(merged), tuple(sorted(overridden))
