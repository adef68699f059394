"""Starts the operator: kopf settings, the runtime shared by the handlers, and kopf's loop."""

import logging
from dataclasses import dataclass, field
from typing import Any

import kopf

from cheiron.api.meta import FINALIZER, PREFIX
from cheiron.controllers.runtime import Runtime, configure, runtime
from cheiron.k8s.client import api_client
from cheiron.k8s.objects import Kube

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Options:
    """How `cheiron run` was asked to run."""

    kubeconfig: str | None = None
    namespaces: tuple[str, ...] = ()
    resync_seconds: float = 600.0
    liveness_endpoint: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@kopf.on.startup()
def _settings(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.finalizer = FINALIZER
    # Our own prefix, and annotations only: the CRD status schema stays cheiron's own.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=PREFIX)
    # kopf would turn handler log lines into Events; cheiron posts its own, deliberate ones.
    settings.posting.enabled = False
    settings.execution.max_workers = 16
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 30


@kopf.on.login()
def _login(**_: Any) -> kopf.ConnectionInfo:
    # kopf and cheiron's own client must use one identity: derive kopf's from cheiron's.
    conf = runtime().kube.api.configuration
    header = conf.get_api_key_with_prefix("BearerToken") or conf.get_api_key_with_prefix(
        "authorization"
    )
    scheme, _sep, token = (header or "").rpartition(" ")
    return kopf.ConnectionInfo(
        server=conf.host,
        ca_path=conf.ssl_ca_cert,
        insecure=not conf.verify_ssl,
        scheme=scheme or ("Bearer" if token else None),
        token=token or None,
        certificate_path=conf.cert_file,
        private_key_path=conf.key_file,
    )


def run(options: Options) -> None:
    """Run until SIGINT/SIGTERM."""
    configure(Runtime(Kube(api_client(options.kubeconfig)), options.resync_seconds))
    # Imported for their side effect: registering the handlers.
    import cheiron.controllers.accounts  # noqa: PLC0415
    import cheiron.controllers.indexes  # noqa: PLC0415
    import cheiron.controllers.managers  # noqa: PLC0415
    import cheiron.controllers.watches  # noqa: F401, PLC0415

    kopf.run(
        standalone=True,
        clusterwide=not options.namespaces,
        namespaces=list(options.namespaces),
        liveness_endpoint=options.liveness_endpoint,
    )
