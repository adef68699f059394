"""Fixtures for operator tests: one operator process per module."""

from collections.abc import Iterator

import pytest

from cheiron.devcluster import ControlPlane
from tests.support.operator import OperatorProcess


@pytest.fixture(scope="module")
def operator(
    control_plane: ControlPlane, crds: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """A running operator for the tests of one module."""
    log_path = tmp_path_factory.mktemp("operator") / "operator.log"
    with OperatorProcess(control_plane.kubeconfig_path, log_path) as proc:
        yield proc
