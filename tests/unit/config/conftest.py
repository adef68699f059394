"""Session fixtures for the install-manifest tests: the tools, and each install rendered once."""

from pathlib import Path

import pytest

from tests.support import tools
from tests.support.manifests import CONFIG, Obj, kustomize


@pytest.fixture(scope="session")
def kubectl() -> Path:
    """The pinned control plane's kubectl, built (cached) when missing."""
    return tools.kubectl()


@pytest.fixture(scope="session")
def kustomized(kubectl: Path) -> dict[str, list[Obj]]:
    """config/cluster, config/namespaced and config/default, rendered."""
    return {name: kustomize(CONFIG / name) for name in ("cluster", "namespaced", "default")}
