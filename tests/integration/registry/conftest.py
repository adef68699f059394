"""Registries and image layouts for the registry tests; none needs the control plane."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.registry import Registry, SkopeoRecorder

USER, PASSWORD = "backup", "s3cret-for-tests"


@pytest.fixture
def registry() -> Iterator[Registry]:
    """A plain-HTTP registry without auth."""
    with Registry() as r:
        yield r


@pytest.fixture
def secure_registry() -> Iterator[Registry]:
    """An HTTPS registry (test CA) with htpasswd auth and deletes enabled."""
    with Registry(auth=(USER, PASSWORD), tls=True, delete=True) as r:
        yield r


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """An empty directory for an OCI image layout."""
    return tmp_path / "layout"


@pytest.fixture
def skopeo_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SkopeoRecorder:
    """The skopeo runs of the test, recorded by a shim in front of the real skopeo on PATH."""
    recorder = SkopeoRecorder(tmp_path / "skopeo")
    monkeypatch.setenv("PATH", recorder.path(os.environ["PATH"]))
    return recorder
