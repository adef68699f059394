"""Builds the API client from a kubeconfig or the in-cluster service account."""

import os

from kubernetes import client, config

# Connections kept per client: enough for the writes in flight (the handlers' thread pool).
POOL_SIZE = 32


def api_client(kubeconfig: str | None = None, *, pool_size: int = POOL_SIZE) -> client.ApiClient:
    """An ApiClient for `kubeconfig`, $KUBECONFIG, ~/.kube/config or the in-cluster account."""
    conf = client.Configuration()
    # urllib3 would otherwise keep cores x 5 connections and open (and drop) one per call
    # beyond that.
    conf.connection_pool_maxsize = pool_size
    path = kubeconfig or os.environ.get("KUBECONFIG")
    if path:
        config.load_kube_config(config_file=path, client_configuration=conf, persist_config=False)
        return client.ApiClient(conf)
    try:
        config.load_incluster_config(client_configuration=conf)
    except config.ConfigException:
        config.load_kube_config(client_configuration=conf, persist_config=False)
    return client.ApiClient(conf)
