"""Session fixtures for the install-manifest tests: the tools, and each install rendered once."""

from pathlib import Path

import pytest

from tests.support import tools
from tests.support.manifests import CONFIG, Obj, helm_template, kustomize


@pytest.fixture(scope="session")
def kubectl() -> Path:
    """The pinned control plane's kubectl, built (cached) when missing."""
    return tools.kubectl()


@pytest.fixture(scope="session")
def helm() -> Path:
    """The pinned helm, built (cached) by hack/helm/build.sh when missing."""
    return tools.helm()


@pytest.fixture(scope="session")
def kustomized(kubectl: Path) -> dict[str, list[Obj]]:
    """config/cluster, config/namespaced and config/default, rendered."""
    return {name: kustomize(CONFIG / name) for name in ("cluster", "namespaced", "default")}


@pytest.fixture(scope="session")
def charted(helm: Path) -> dict[str, list[Obj]]:
    """charts/cheiron rendered in each install mode, into the namespace kustomize uses."""
    return {
        mode: helm_template("cheiron-system", {"installMode": mode})
        for mode in ("cluster", "namespaced")
    }
