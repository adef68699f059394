"""The published manifests of the tools `cheiron migrate` reads, and their CRDs' installation."""

from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.support.poll import eventually

HERE = Path(__file__).parent


def documents(tool: str) -> list[dict[str, Any]]:
    """Every object of `<tool>.yaml`, in order."""
    with (HERE / f"{tool}.yaml").open() as f:
        return [d for d in yaml.safe_load_all(f) if d]


def install_crds(api: client.ApiClient, tool: str) -> None:
    """Create the tool's CRDs (those already there are kept) and wait until they are served."""
    ext = client.ApiextensionsV1Api(api)
    crds = [d for d in documents(tool) if d["kind"] == "CustomResourceDefinition"]
    for crd in crds:
        try:
            ext.create_custom_resource_definition(crd)
        except ApiException as e:
            if e.status != 409:
                raise
    for crd in crds:

        def established(name: str = crd["metadata"]["name"]) -> bool:
            conditions = ext.read_custom_resource_definition(name).status.conditions or []
            return any(c.type == "Established" and c.status == "True" for c in conditions)

        eventually(established, what=f"CRD {crd['metadata']['name']} established")
