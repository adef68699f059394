"""Creates or updates cheiron's MutatingWebhookConfiguration (its caBundle included)."""

import base64
from dataclasses import dataclass
from typing import Any

from kubernetes.client import ApiClient
from kubernetes.client.rest import ApiException

from cheiron.api.meta import MANAGED_BY, MANAGED_BY_LABEL
from cheiron.k8s.rest import AdmissionApi

NOT_FOUND = 404
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class WebhookEndpoint:
    """Where the apiserver reaches the webhook: a URL, or a Service in the cluster."""

    ca_pem: bytes
    url_base: str | None = None  # https://host:port
    service_namespace: str | None = None
    service_name: str | None = None
    service_port: int = 443

    def client_config(self, path: str) -> dict[str, Any]:
        """The clientConfig for one webhook path."""
        config: dict[str, Any] = {"caBundle": base64.b64encode(self.ca_pem).decode()}
        if self.url_base is not None:
            config["url"] = f"{self.url_base}/{path}"
        else:
            config["service"] = {
                "namespace": self.service_namespace,
                "name": self.service_name,
                "path": f"/{path}",
                "port": self.service_port,
            }
        return config


def create_webhook(
    resource: str,
    endpoint: WebhookEndpoint,
    path: str,
    *,
    excluded_namespaces: list[str],
    failure_policy: str,
    timeout_seconds: int,
) -> dict[str, Any]:
    """A CREATE webhook for `resource` (pods, serviceaccounts), never for excluded namespaces."""
    return {
        "name": f"{resource}.cheiron.anny.co",
        "clientConfig": endpoint.client_config(path),
        "rules": [
            {
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "operations": ["CREATE"],
                "resources": [resource],
                "scope": "Namespaced",
            }
        ],
        # A webhook that serves its own namespace can deadlock its own restart.
        "namespaceSelector": {
            "matchExpressions": [
                {
                    "key": NAMESPACE_NAME_LABEL,
                    "operator": "NotIn",
                    "values": sorted(set(excluded_namespaces)),
                }
            ]
        },
        "failurePolicy": failure_policy,
        "sideEffects": "None",
        "timeoutSeconds": timeout_seconds,
        "admissionReviewVersions": ["v1"],
        "matchPolicy": "Equivalent",
        "reinvocationPolicy": "Never",
    }


def ensure_configuration(api: ApiClient, name: str, webhooks: list[dict[str, Any]]) -> None:
    """Create the configuration, or replace its webhooks (and so its caBundle)."""
    admission = AdmissionApi(api)
    metadata: dict[str, Any] = {"name": name, "labels": {MANAGED_BY_LABEL: MANAGED_BY}}
    body = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": metadata,
        "webhooks": webhooks,
    }
    try:
        current = admission.read_mutating_webhook_configuration(name)
    except ApiException as e:
        if e.status != NOT_FOUND:
            raise
        admission.create_mutating_webhook_configuration(body)
        return
    metadata["resourceVersion"] = current["metadata"]["resourceVersion"]
    admission.replace_mutating_webhook_configuration(name, body)
