"""Install cheiron's CRDs, generated from the models, and wait until the apiserver serves them."""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from kubernetes import client, config
from kubernetes.client.rest import ApiException

from cheiron.api.crd import KINDS, Kind, crd
from cheiron.devcluster import ControlPlane
from tests.support.poll import eventually


def established(api: client.ApiClient, kinds: Iterable[Kind] = KINDS) -> None:
    """Wait until each kind's CRD is Established (its objects can be created)."""
    ext = client.ApiextensionsV1Api(api)
    for kind in kinds:

        def ready(name: str = kind.crd_name) -> bool:
            conditions = ext.read_custom_resource_definition(name).status.conditions or []
            return any(c.type == "Established" and c.status == "True" for c in conditions)

        eventually(ready, what=f"CRD {kind.kind} established")


def install(api: client.ApiClient) -> None:
    """Create every CRD (those already there are kept) and wait until all are established."""
    ext = client.ApiextensionsV1Api(api)
    for kind in KINDS:
        try:
            ext.create_custom_resource_definition(crd(kind))
        except ApiException as e:
            if e.status != 409:
                raise
    established(api)


@contextmanager
def own_control_plane() -> Iterator[ControlPlane]:
    """A control plane with cheiron's CRDs, for a module whose load would slow the others."""
    with ControlPlane() as plane:
        install(config.new_client_from_config(config_file=str(plane.kubeconfig_path)))
        yield plane
