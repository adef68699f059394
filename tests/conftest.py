"""API fixtures for every tier that runs a control plane; each tier defines `api_client`."""

from collections.abc import Iterator

import pytest
from kubernetes import client

from tests.support.namespaces import fresh_namespace


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    """The core/v1 API."""
    return client.CoreV1Api(api_client)


@pytest.fixture
def apps(api_client: client.ApiClient) -> client.AppsV1Api:
    """The apps/v1 API."""
    return client.AppsV1Api(api_client)


@pytest.fixture
def custom(api_client: client.ApiClient) -> client.CustomObjectsApi:
    """The custom objects API."""
    return client.CustomObjectsApi(api_client)


@pytest.fixture
def namespace(core: client.CoreV1Api, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace named after the test, deleted (without waiting) afterwards."""
    with fresh_namespace(core, request.node.name) as name:
        yield name
