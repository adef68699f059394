"""Prometheus metrics of the operator, and the HTTP server for /metrics, /healthz, /readyz.

Names follow eatr's counters (`cheiron_secrets_created_total`, `cheiron_secret_renewals_total`)
so dashboards built for eatr keep working after a rename of the prefix. Label values are
object names and reasons only, never a credential.
"""

import datetime
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

SECRETS_CREATED = Counter(
    "cheiron_secrets_created_total",
    "Pull Secrets written by cheiron (created or updated), as eatr counted them.",
    ["namespace", "name"],
)
SECRET_RENEWALS = Counter(
    "cheiron_secret_renewals_total", "ECR tokens fetched to renew (or first fill) a pull Secret."
)
RECONCILES = Counter(
    "cheiron_reconcile_total",
    "Reconcile passes by controller and outcome.",
    ["controller", "result"],
)
RECONCILE_SECONDS = Histogram(
    "cheiron_reconcile_duration_seconds",
    "Duration of reconcile passes by controller.",
    ["controller"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
ERRORS = Counter(
    "cheiron_errors_total",
    "Failures by controller and reason (entry failures, conflicts, exceptions).",
    ["controller", "reason"],
)
MANAGED_OBJECTS = Gauge(
    "cheiron_managed_objects",
    "Objects a manager maintains: its Secrets and its reconciled ServiceAccounts or Pods.",
    ["manager", "kind"],
)
ECR_EXPIRY = Gauge(
    "cheiron_ecr_token_expiry_seconds",
    "Seconds until the ECR token of a manager's entry expires (negative: expired).",
    ["manager", "entry"],
)
LAST_SYNC = Gauge(
    "cheiron_last_successful_sync_timestamp_seconds",
    "Unix time of a manager's last pass that ended Ready.",
    ["manager"],
)
CREDENTIALS_VERIFIED = Gauge(
    "cheiron_credentials_verified",
    "1 for what the registry last said to an entry's credentials "
    "(Verified, Rejected, Unreachable, Skipped), 0 for the other results.",
    ["manager", "entry", "result"],
)
VERIFICATION_RESULTS = ("Verified", "Rejected", "Unreachable", "Skipped")
MANAGER_READY = Gauge(
    "cheiron_manager_ready",
    "1 while a manager's Ready condition is True, 0 while it is not; `reason` is the "
    "condition's reason (one series per manager).",
    ["manager", "reason"],
)
BACKUP_IMAGES = Gauge(
    "cheiron_backup_images",
    "Images of a ClusterImageBackup by state (BackedUp, Pending, Failed).",
    ["backup", "state"],
)
BACKUP_STATES = ("BackedUp", "Pending", "Failed")
LEADER = Gauge("cheiron_leader", "1 while this replica holds the leader Lease (or runs alone).")


@contextmanager
def timed(controller: str) -> Iterator[None]:
    """Count and time one reconcile pass; an exception counts as `error`."""
    start = time.perf_counter()
    result = "error"
    try:
        yield
        result = "ok"
    finally:
        RECONCILES.labels(controller, result).inc()
        RECONCILE_SECONDS.labels(controller).observe(time.perf_counter() - start)


def token_expires(manager: str, entry: str, expires_at: datetime.datetime) -> None:
    """Report an ECR token's expiry; the gauge counts down at each scrape."""

    def remaining() -> float:
        return (expires_at - datetime.datetime.now(datetime.UTC)).total_seconds()

    ECR_EXPIRY.labels(manager, entry).set_function(remaining)


def credentials_verified(manager: str, entry: str, result: str) -> None:
    """Set an entry's verification series: 1 for its current result, 0 for the others."""
    for value in VERIFICATION_RESULTS:
        CREDENTIALS_VERIFIED.labels(manager, entry, value).set(1 if value == result else 0)


# The reason each manager's readiness series carries now: a new reason replaces the series.
_ready_reasons: dict[str, str] = {}


def manager_ready(manager: str, ready: bool, reason: str) -> None:
    """Report a manager's readiness, one series per manager whatever its reason."""
    before = _ready_reasons.get(manager)
    if before is not None and before != reason:
        with suppress(KeyError):
            MANAGER_READY.remove(manager, before)
    _ready_reasons[manager] = reason
    MANAGER_READY.labels(manager, reason).set(1 if ready else 0)


def backup_images(backup: str, backed_up: int, pending: int, failed: int) -> None:
    """A backup's images by state."""
    for state, count in zip(BACKUP_STATES, (backed_up, pending, failed), strict=True):
        BACKUP_IMAGES.labels(backup, state).set(count)


def forget_backup(backup: str) -> None:
    """Drop a deleted backup's series."""
    for state in BACKUP_STATES:
        with suppress(KeyError):
            BACKUP_IMAGES.remove(backup, state)


def forget_manager(manager: str, entries: list[str]) -> None:
    """Drop the series of a deleted manager so they do not linger at their last value."""
    if (reason := _ready_reasons.pop(manager, None)) is not None:
        with suppress(KeyError):
            MANAGER_READY.remove(manager, reason)
    for gauge, labels in (
        (MANAGED_OBJECTS, [(manager, k) for k in ("Secret", "ServiceAccount", "Pod")]),
        (ECR_EXPIRY, [(manager, e) for e in entries]),
        (LAST_SYNC, [(manager,)]),
        (
            CREDENTIALS_VERIFIED,
            [(manager, e, r) for e in entries for r in VERIFICATION_RESULTS],
        ),
    ):
        for values in labels:
            with suppress(KeyError):
                gauge.remove(*values)


class _Handler(BaseHTTPRequestHandler):
    ready: ClassVar[Callable[[], bool]]

    def do_GET(self) -> None:
        if self.path == "/metrics":
            self._send(200, generate_latest(), CONTENT_TYPE_LATEST)
        elif self.path == "/healthz":
            self._send(200, b"ok\n")
        elif self.path == "/readyz":
            ok = type(self).ready()
            self._send(200 if ok else 503, b"ready\n" if ok else b"not ready\n")
        else:
            self._send(404, b"not found\n")

    def _send(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Scrapes and probes every few seconds are not worth a log line."""


def serve(host: str, port: int, ready: Callable[[], bool]) -> ThreadingHTTPServer:
    """Serve /metrics, /healthz (the process answers) and /readyz (`ready()`) in a thread."""
    handler = type("Handler", (_Handler,), {"ready": staticmethod(ready)})
    server = ThreadingHTTPServer((host, port), handler)
    threading.Thread(target=server.serve_forever, name="cheiron-http", daemon=True).start()
    return server
