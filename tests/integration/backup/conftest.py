"""Two real registries for the backup tests: a public source and an authenticated TLS backup."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from cheiron.sources.skopeo import RegistryAccess
from tests.support.registry import Registry

USER, PASSWORD = "backup-robot", "pushing-s3cret"


@pytest.fixture
def source_registry() -> Iterator[Registry]:
    """The "public" registry images come from: plain HTTP, no auth, deletes enabled."""
    with Registry(delete=True) as r:
        yield r


@pytest.fixture
def backup_registry() -> Iterator[Registry]:
    """The backup registry: HTTPS from a test CA, htpasswd auth."""
    with Registry(auth=(USER, PASSWORD), tls=True) as r:
        yield r


def access(registry: Registry, password: str | None = None) -> RegistryAccess:
    """How cheiron reaches a test registry (its CA, or plain HTTP; its credentials)."""
    ca = registry.ca_path.read_text() if registry.ca_path is not None else None
    user, secret = registry.auth or (None, None)
    return RegistryAccess(
        registry.host,
        username=user,
        password=password or secret,
        ca_pem=ca,
        insecure=not registry.tls,
    )


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """An empty directory for an OCI image layout."""
    return tmp_path / "layout"
