"""Builds the API client from a kubeconfig or the in-cluster service account."""

import os

from kubernetes import client, config


def api_client(kubeconfig: str | None = None) -> client.ApiClient:
    """An ApiClient for `kubeconfig`, $KUBECONFIG, ~/.kube/config or the in-cluster account."""
    path = kubeconfig or os.environ.get("KUBECONFIG")
    if path:
        return config.new_client_from_config(config_file=path)
    try:
        config.load_incluster_config()
    except config.ConfigException:
        return config.new_client_from_config()
    return client.ApiClient()
