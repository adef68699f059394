"""Fixtures that give integration tests the real local control plane, one namespace per test."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from cheiron.devcluster import ControlPlane
from tests.support import crds as crd_support
from tests.support.moto import MotoServer


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    """etcd, kube-apiserver and kube-controller-manager for the whole session."""
    with ControlPlane() as plane:
        yield plane


@pytest.fixture(scope="session")
def api_client(control_plane: ControlPlane) -> client.ApiClient:
    """An admin client of the session's apiserver."""
    return config.new_client_from_config(config_file=str(control_plane.kubeconfig_path))


@pytest.fixture(scope="session")
def crds(api_client: client.ApiClient) -> None:
    """The CRDs, generated from the models, installed and established."""
    crd_support.install(api_client)


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """An empty directory for an OCI image layout."""
    return tmp_path / "layout"


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """Moto's server mode over HTTP, standing in for AWS ECR, STS and IAM."""
    with MotoServer(tmp_path_factory.mktemp("moto") / "moto.log") as server:
        yield server
