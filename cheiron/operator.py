"""Starts the operator: kopf settings, the runtime shared by the handlers, and kopf's loop."""

import asyncio
import datetime
import functools
import gc
import logging
import math
import os
import socket
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kopf
from kopf._core.engines.peering import Identity  # the type of kopf.run's identity (not exported)

from cheiron import metrics
from cheiron.api.meta import FINALIZER, LEGACY_SPEC_COPY, PREFIX
from cheiron.k8s.client import api_client
from cheiron.k8s.lease import LeaderElection
from cheiron.k8s.objects import Kube
from cheiron.pki import make_serving_pki
from cheiron.pullsecrets.entries import EcrPolicy
from cheiron.pullsecrets.verification import VerifyPolicy
from cheiron.runtime.state import Runtime, configure, runtime
from cheiron.runtime.tasks import spawn
from cheiron.sources import ecr, skopeo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookOptions:
    """How the admission webhook is served and registered."""

    port: int
    # Address to listen on, and (without a Service) the host the apiserver calls.
    host: str = "127.0.0.1"
    listen: str | None = None
    service: str | None = None  # "namespace/name" of a Service in front of the operator
    failure_policy: str = "Ignore"
    timeout_seconds: int = 2
    configuration_name: str = "cheiron"
    service_accounts: bool = False  # also give new ServiceAccounts their secrets at CREATE
    # With cert-manager: serve its certificate (tls.crt/tls.key) and leave the configuration
    # and its caBundle to cert-manager's CA injector.
    cert_dir: str | None = None
    manage_configuration: bool = True


@dataclass(frozen=True)
class Options:
    """How `cheiron run` was asked to run."""

    kubeconfig: str | None = None
    namespaces: tuple[str, ...] = ()
    resync_seconds: float = 600.0
    eatr: bool = False
    ecr_policy: EcrPolicy = field(default_factory=EcrPolicy)
    verify_policy: VerifyPolicy = field(default_factory=VerifyPolicy)
    # PEM CAs trusted (besides the system's) when registries are asked about credentials.
    verify_ca_pem: str | None = None
    liveness_endpoint: str | None = None
    operator_namespace: str = "cheiron-system"
    webhook: WebhookOptions | None = None
    # /metrics, /healthz and /readyz on this port (0: not served).
    metrics_port: int = 0
    metrics_host: str = "0.0.0.0"  # noqa: S104 - scraped from other Pods
    # Several replicas: one holds the Lease `operator_namespace/lease_name` and acts.
    leader_election: bool = False
    lease_name: str = "cheiron"
    lease_seconds: int = 15


_options = Options()
# Set once kopf's startup handlers ran (and, with leader election, while leading).
_started = threading.Event()
# Work-queue tasks at once; fewer than runtime.pools.KUBE_THREADS, so that the bounded
# queue, not the thread pool, is what limits writes in flight.
QUEUE_WORKERS = 12
HEAP_FREEZE_SECONDS = 60.0
HEAP_SWEEP_SECONDS = 1800.0
# The Lease's own client: one renewal (or release) at a time, a read and a write.
LEASE_POOL_SIZE = 2


def _ready() -> bool:
    caches = runtime().caches if _started.is_set() else None
    return caches is not None and caches.synced


@kopf.on.startup()
async def _start_caches(**_: Any) -> None:
    """Start the informers, the work queue and the Event aggregator on kopf's loop."""
    from cheiron.controllers import backup, watches  # noqa: PLC0415
    from cheiron.runtime.caches import build_caches  # noqa: PLC0415
    from cheiron.runtime.events import EventAggregator  # noqa: PLC0415
    from cheiron.runtime.views import Views  # noqa: PLC0415
    from cheiron.runtime.workqueue import WorkQueue  # noqa: PLC0415

    rt = runtime()
    rt.pools.install(asyncio.get_running_loop())
    # Watches hold their connections for minutes: a client of their own keeps them out of
    # the writes' connection pool.
    caches = build_caches(
        api_client(_options.kubeconfig),
        namespaces=_options.namespaces,
        eatr=_options.eatr,
        cluster=not _options.namespaces,
    )
    idx = Views(caches)
    rt.caches = caches
    rt.events = EventAggregator(rt.kube.namespace_event)
    watches.register(idx)
    backup.register_backup_watches(idx)

    async def process(key: Any) -> None:
        await watches.process(key, idx)

    rt.queue = WorkQueue(process, workers=QUEUE_WORKERS, name="cheiron-work")
    caches.start()

    async def start_workers() -> None:
        await caches.wait_synced()
        log.info("caches synced: %d objects", sum(len(i.objects) for i in caches.informers))
        spawn(_keep_heap_frozen())
        assert rt.queue is not None  # noqa: S101 - set just above
        rt.queue.start()

    spawn(start_workers())


async def _keep_heap_frozen() -> None:
    """Keep long-lived objects out of the cyclic collector's full passes.

    The caches are most of the heap and live as long as the process. A full collection
    walked all of them: 60-160 ms at 1,000 namespaces, every few seconds under load,
    stalling every handler (bench/scale.py's new-namespace tail). Frozen objects are
    skipped; what a minute leaves alive is frozen too. Cyclic garbage among frozen objects
    is not collected, so now and then everything is thawed, collected once and frozen again.
    """
    loop = asyncio.get_running_loop()
    swept = -math.inf
    while True:
        if loop.time() - swept >= HEAP_SWEEP_SECONDS:
            gc.unfreeze()
            gc.collect()
            swept = loop.time()
        gc.freeze()
        await asyncio.sleep(HEAP_FREEZE_SECONDS)


class NoDiffBase(kopf.DiffBaseStorage):
    """Keeps no last-handled copy of the backups: cheiron has no on-create or on-update handler.

    kopf's annotation storage copied every spec into an annotation, inline passwords
    included, and cost a patch and a deep copy per event. The copy an earlier version left
    is removed by the first event kopf handles after an upgrade (on a manager, by
    cheiron.controllers.lifecycles, now that kopf no longer handles managers).
    """

    LEGACY = LEGACY_SPEC_COPY

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        """The same empty essence for every object: no change is ever detected."""
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        """Empty, or None while the legacy copy is there (so that `store` removes it)."""
        return None if self.LEGACY in body.metadata.annotations else kopf.BodyEssence()

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        """Remove the legacy copy; store nothing."""
        if self.LEGACY in body.metadata.annotations:
            patch.metadata.annotations[self.LEGACY] = None


@kopf.on.startup()
def _settings(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.finalizer = FINALIZER
    # Our own prefix, and annotations only: the CRD status schema stays cheiron's own.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = NoDiffBase()
    # kopf would turn handler log lines into Events; cheiron posts its own, deliberate ones.
    settings.posting.enabled = False
    settings.execution.max_workers = 16
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 30
    _started.set()
    if _options.webhook is not None:
        _serve_webhook(settings, _options.webhook)


def _serve_webhook(settings: kopf.OperatorSettings, webhook: WebhookOptions) -> None:
    """Serve admission with a fresh certificate and register it with the apiserver."""
    from cheiron.k8s.webhooks import (  # noqa: PLC0415 - only with --webhook-port
        WebhookEndpoint,
        create_webhook,
        ensure_configuration,
    )
    from cheiron.webhooks.pods import POD_WEBHOOK  # noqa: PLC0415
    from cheiron.webhooks.serviceaccounts import SERVICE_ACCOUNT_WEBHOOK  # noqa: PLC0415

    service_ns, _slash, service_name = (webhook.service or "").partition("/")
    if webhook.cert_dir:
        certdir = Path(webhook.cert_dir)
        ca_pem = (certdir / "ca.crt").read_bytes() if (certdir / "ca.crt").exists() else b""
    else:
        dns = (f"{service_name}.{service_ns}.svc", f"{service_name}.{service_ns}.svc.cluster.local")
        is_ip = webhook.host.replace(".", "").isdigit() or ":" in webhook.host
        ca, serving = make_serving_pki(
            dns_names=dns if webhook.service else (() if is_ip else (webhook.host,)),
            ip_addresses=(webhook.host,) if is_ip and not webhook.service else (),
            validity=datetime.timedelta(days=365),
        )
        ca_pem = ca.cert_pem
        # A new CA per start: the configuration below is rewritten with it before Pods can
        # be admitted by this process, so no key material has to be stored anywhere.
        certdir = Path(tempfile.mkdtemp(prefix="cheiron-webhook-"))
        (certdir / "tls.crt").write_bytes(serving.cert_pem)
        (certdir / "tls.key").write_bytes(serving.key_pem)
        (certdir / "tls.key").chmod(0o600)
    settings.admission.server = kopf.WebhookServer(
        addr=webhook.listen or webhook.host,
        port=webhook.port,
        host=webhook.host,
        certfile=str(certdir / "tls.crt"),
        pkeyfile=str(certdir / "tls.key"),
    )
    if not webhook.manage_configuration:
        return
    endpoint = (
        WebhookEndpoint(ca_pem, service_namespace=service_ns, service_name=service_name)
        if webhook.service
        else WebhookEndpoint(ca_pem, url_base=f"https://{webhook.host}:{webhook.port}")
    )
    served = [("pods", POD_WEBHOOK)]
    if webhook.service_accounts:
        served.append(("serviceaccounts", SERVICE_ACCOUNT_WEBHOOK))
    hooks = [
        create_webhook(
            resource,
            endpoint,
            path,
            excluded_namespaces=["kube-system", _options.operator_namespace],
            failure_policy=webhook.failure_policy,
            timeout_seconds=webhook.timeout_seconds,
        )
        for resource, path in served
    ]
    ensure_configuration(runtime().kube.api, webhook.configuration_name, hooks)
    log.info("admission webhook registered as %s", webhook.configuration_name)


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


def _identity() -> str:
    # Unique per process: a restarted Pod keeps its name but must not inherit the Lease.
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def _lead(options: Options, api: Any) -> LeaderElection:
    """Block until this replica holds the Lease; keep renewing it, and watch that it does."""
    election = LeaderElection(
        api, options.operator_namespace, options.lease_name, _identity(), options.lease_seconds
    )
    retry = max(1.0, options.lease_seconds / 5)
    log.info(
        "waiting to lead as %s (Lease %s/%s)", election.identity, election.namespace, election.name
    )
    while not _attempt(election):
        time.sleep(retry)
    log.info("leading as %s", election.identity)

    def renew() -> None:
        while True:
            time.sleep(retry)
            _attempt(election)

    def watchdog() -> None:
        # Apart from the renewals, so that a renewal stuck anywhere cannot keep us acting.
        while not election.expired_for_us():
            time.sleep(0.25)
        log.error("could not renew the leader Lease in time; exiting so that only one acts")
        os._exit(1)

    threading.Thread(target=renew, name="cheiron-lease", daemon=True).start()
    threading.Thread(target=watchdog, name="cheiron-lease-watchdog", daemon=True).start()
    return election


def _attempt(election: LeaderElection) -> bool:
    try:
        return election.try_acquire_or_renew()
    except Exception:
        log.exception("the leader Lease call failed; trying again")
        return False


def run(options: Options) -> None:
    """Run until SIGINT/SIGTERM."""
    global _options  # noqa: PLW0603 - one operator per process, set once at start
    _options = options
    api = api_client(options.kubeconfig)
    if options.metrics_port:
        metrics.serve(options.metrics_host, options.metrics_port, _ready)
    # Blocks a standby until it leads; alone, this replica leads from the start. The Lease
    # has a client (and connections) of its own: bulk writes waiting for a connection or
    # throttled by the apiserver must not keep the renewals from their deadline.
    election = (
        _lead(options, api_client(options.kubeconfig, pool_size=LEASE_POOL_SIZE))
        if options.leader_election
        else None
    )
    metrics.LEADER.set(1)
    configure(
        Runtime(
            Kube(api),
            options.resync_seconds,
            eatr=options.eatr,
            ecr_policy=options.ecr_policy,
            webhook_served=options.webhook is not None,
            operator_namespace=options.operator_namespace,
            fetch_ecr=ecr.fetch,
            verify_policy=options.verify_policy,
            check_login=functools.partial(skopeo.check_login, ca_pem=options.verify_ca_pem),
        )
    )
    # Managers are driven by their informers (cheiron.controllers.lifecycles); kopf keeps
    # the backups' daemons (a cluster-wide operator only) and the admission webhooks.
    if not options.namespaces:
        from cheiron.controllers.backup import watch_backups  # noqa: PLC0415

        watch_backups()

    if options.webhook is not None:
        import cheiron.webhooks.pods  # noqa: PLC0415

        if options.webhook.service_accounts:
            import cheiron.webhooks.serviceaccounts  # noqa: F401, PLC0415

    try:
        kopf.run(
            # kopf would name itself after the user, and an image's numeric user (65532)
            # has no name: getpass.getuser() raises there.
            identity=Identity(election.identity if election else _identity()),
            standalone=True,
            clusterwide=not options.namespaces,
            namespaces=list(options.namespaces),
            liveness_endpoint=options.liveness_endpoint,
        )
    finally:
        _started.clear()
        # Calls queued and not yet started are dropped: exit waits only for those in flight.
        runtime().pools.shutdown()
        if election is not None:
            election.release()
