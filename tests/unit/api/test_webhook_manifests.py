"""config/webhook says what the operator itself would register."""

from pathlib import Path

import yaml

from cheiron.k8s.webhooks import WebhookEndpoint, create_webhook
from cheiron.webhooks.pods import POD_WEBHOOK

CONFIG = Path(__file__).parents[3] / "config"


def test_manifest_matches_the_code() -> None:
    manifest = yaml.safe_load((CONFIG / "webhook" / "manifests.yaml").read_text())
    endpoint = WebhookEndpoint(
        b"", service_namespace="cheiron-system", service_name="cheiron-webhook"
    )
    expected = create_webhook(
        "pods",
        endpoint,
        POD_WEBHOOK,
        excluded_namespaces=["kube-system", "cheiron-system"],
        failure_policy="Ignore",
        timeout_seconds=2,
    )
    del expected["clientConfig"]["caBundle"]
    assert manifest["webhooks"] == [expected]


def test_service_targets_the_operator_port_used_in_docs() -> None:
    service = yaml.safe_load((CONFIG / "webhook" / "service.yaml").read_text())
    assert service["spec"]["ports"][0]["targetPort"] == 9443
