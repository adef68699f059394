"""Fixtures for `cheiron migrate` tests: the migrate runner, its managers deleted afterwards."""

from collections.abc import Iterator

import pytest
from kubernetes import client

from cheiron.devcluster import ControlPlane
from tests.integration.migrate.support import Migrate


@pytest.fixture
def migrate(
    control_plane: ControlPlane, crds: None, custom: client.CustomObjectsApi
) -> Iterator[Migrate]:
    """`cheiron migrate` on the session's control plane.

    The managers it applied are deleted afterwards, so that no other test's operator sees them.
    """
    runner = Migrate(control_plane, custom)
    try:
        yield runner
    finally:
        runner.delete_created()
