"""A fresh namespace per test, named after it, for every tier that runs a control plane."""

import contextlib
import re
import uuid
from collections.abc import Iterator

from kubernetes import client
from kubernetes.client.rest import ApiException


@contextlib.contextmanager
def fresh_namespace(core: client.CoreV1Api, test_name: str) -> Iterator[str]:
    """Create a namespace named after the test; delete it (without waiting) afterwards."""
    base = re.sub(r"[^a-z0-9-]+", "-", test_name.lower()).strip("-")[:40].strip("-")
    name = f"{base}-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        yield name
    finally:
        try:
            core.delete_namespace(name)
        except ApiException as e:
            if e.status != 404:
                raise
