"""How cheiron scales with namespaces, managers and cluster size, next to a plain-client floor.

Run by hand: uv run python bench/scale.py [--namespaces 1000] [--scenarios converge,burst] [-h]
New-namespace latency at two sizes in one run:
  uv run python bench/scale.py --scenarios new-namespace --compare-at 100 --new-namespaces 60
Starts its own control plane and operator. Each scenario times cheiron and a floor, a plain
client with --threads threads making cheiron's writes (per namespace: the pull Secret, then a
mark and an append patch per ServiceAccount) in namespaces of its own; ratio = cheiron / floor.
Progress goes to stderr, the table to stdout.
"""

import argparse
import base64
import contextlib
import json
import math
import os
import shlex
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.watch.watch import iter_resp_lines

from cheiron.api.meta import (
    ADDED,
    MANAGED_BY_LABEL,
    OWNER_ANNOTATION,
    OWNER_UID_LABEL,
    PREFIX,
    RECONCILABLE,
    RECONCILE_WITH,
    RECONCILED,
    TRUE,
)
from cheiron.devcluster import ControlPlane
from tests.support import crds
from tests.support.managers import create_manager, inline, manager_body
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually

SCENARIOS = ("converge", "new-namespace", "burst", "restart", "per-namespace-managers")
ENTRY = "bench"  # the manager entry, so the name of cheiron's Secret (and the floor's)
LABEL_KEY, LABEL_VALUE = "bench.cheiron/target", "yes"
# cheiron's annotation names under a prefix of the same length: the floor's objects weigh
# the same, yet cheiron sees no protocol on them and leaves the floor namespaces alone.
FLOOR_PREFIX = "floor.anny.test"
RESTART_WINDOW = 30.0
SETTLE_AFTER = 3.0  # writes this late after convergence still count against the phase
BURST_NAMESPACES = 100

Key = tuple[str, str]


def log(message: str) -> None:
    """A progress line on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def floor_key(key: str) -> str:
    """A cheiron annotation or label name, moved under the floor's prefix."""
    return FLOOR_PREFIX + key.removeprefix(PREFIX)


def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """One API call with its JSON answer parsed directly: the client's models cost CPU here."""
    response = fn(*args, _preload_content=False, **kwargs)
    try:
        body: dict[str, Any] = json.loads(response.data)
    finally:
        response.release_conn()
    return body


def new_api(kubeconfig: Path, pool: int) -> client.ApiClient:
    """An API client whose connection pool fits `pool` concurrent calls."""
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    cfg.connection_pool_maxsize = pool
    return client.ApiClient(cfg)


def fan_out(threads: int, fn: Callable[[Any], object], items: Iterable[Any]) -> None:
    """Run fn over items on a pool; the first failure is raised."""
    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(fn, items):
            pass


def proc_rss_mib(pid: int) -> float:
    """Resident memory of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def proc_cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process used so far."""
    # The command name may hold spaces or parentheses: fields are counted after the last ')'.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def operator_pid(operator: OperatorProcess) -> int:
    """The pid of a running operator."""
    proc = operator._proc  # Background keeps its Popen private
    assert proc is not None, "operator not running"
    return proc.pid


@dataclass(frozen=True)
class Change:
    """One watch event: a write someone made."""

    at: float
    resource: str
    type: str
    namespace: str
    name: str


@dataclass
class Observer:
    """What cluster-wide watches saw: every change, and when each account first listed ENTRY."""

    changes: list[Change] = field(default_factory=list)
    accounts: set[Key] = field(default_factory=set)
    patched_at: dict[Key, float] = field(default_factory=dict)
    last_change: float = 0.0
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def record(self, resource: str, type_: str, obj: dict[str, Any], at: float) -> None:
        """Take one event (type SYNC: an object seen in a relist, not a write)."""
        meta = obj.get("metadata") or {}
        key = (meta.get("namespace") or "", meta.get("name") or "")
        with self._cond:
            if type_ != "SYNC":
                self.changes.append(Change(at, resource, type_, *key))
                self.last_change = at
            if resource == "serviceaccounts":
                if type_ == "DELETED":
                    self.accounts.discard(key)
                else:
                    self.accounts.add(key)
                    refs = obj.get("imagePullSecrets") or []
                    if key not in self.patched_at and any(r.get("name") == ENTRY for r in refs):
                        self.patched_at[key] = at
            self._cond.notify_all()

    def wait_account(self, key: Key, deadline: float) -> bool:
        """Block until the account exists (the controller-manager makes `default`)."""
        with self._cond:
            return self._cond.wait_for(
                lambda: key in self.accounts, timeout=max(0.0, deadline - time.monotonic())
            )

    def wait_accounts(self, keys: Collection[Key], deadline: float, what: str) -> None:
        """Poll until every account exists; raise at the deadline (set-up must not fail)."""

        def probe() -> bool:
            with self._cond:
                return all(k in self.accounts for k in keys)

        eventually(probe, timeout=max(0.0, deadline - time.monotonic()), interval=0.2, what=what)

    def await_patched(
        self,
        keys: Collection[Key],
        deadline: float,
        what: str,
        alive: Callable[[], bool] = lambda: True,
    ) -> float | None:
        """When the last of `keys` first listed ENTRY, or None when the deadline passed first.

        Stops early, returning None, once `alive` says the process doing the work is gone.
        """
        last_log = time.monotonic()

        def probe() -> bool:
            nonlocal last_log
            if not alive():
                return True
            with self._cond:
                left = sum(k not in self.patched_at for k in keys)
            if left and time.monotonic() - last_log > 10:
                log(f"{what}: {len(keys) - left}/{len(keys)} accounts list the Secret")
                last_log = time.monotonic()
            return left == 0

        try:
            eventually(
                probe, timeout=max(0.0, deadline - time.monotonic()), interval=0.2, what=what
            )
        except AssertionError:
            log(f"{what}: timeout")
            return None
        if not alive():
            return None
        with self._cond:
            return max(self.patched_at[k] for k in keys)

    def changes_in(self, namespace: str, since: float) -> list[Change]:
        """The changes seen in one namespace since a moment, oldest first."""
        with self._cond:
            return [c for c in self.changes if c.namespace == namespace and c.at >= since]

    def count(
        self,
        resources: Collection[str],
        types: Collection[str],
        start: float,
        end: float = math.inf,
        *,
        inside: Collection[str] | None = None,
        outside: Collection[str] = (),
    ) -> int:
        """Changes of these kinds in [start, end], in (or outside) some namespaces."""
        with self._cond:
            return sum(
                1
                for c in self.changes
                if start <= c.at <= end
                and c.resource in resources
                and c.type in types
                and (inside is None or c.namespace in inside)
                and c.namespace not in outside
            )


LISTS = {
    "serviceaccounts": "list_service_account_for_all_namespaces",
    "secrets": "list_secret_for_all_namespaces",
    "events": "list_event_for_all_namespaces",
    "pods": "list_pod_for_all_namespaces",
}


def watch_forever(
    api: client.ApiClient, resource: str, observer: Observer, stop: threading.Event
) -> None:
    """Feed one resource's cluster-wide changes to the observer until stopped."""
    list_fn = getattr(client.CoreV1Api(api), LISTS[resource])
    version = ""
    while not stop.is_set():
        try:
            if not version:
                listed = call(list_fn)
                now = time.monotonic()
                for item in listed["items"]:
                    observer.record(resource, "SYNC", item, now)
                version = listed["metadata"]["resourceVersion"]
            response = list_fn(
                watch=True,
                resource_version=version,
                allow_watch_bookmarks=True,
                timeout_seconds=300,
                _preload_content=False,
                _request_timeout=(10, 360),
            )
            try:
                for line in iter_resp_lines(response):
                    if not line:
                        continue
                    event = json.loads(line)
                    obj = event["object"]
                    if event["type"] == "ERROR":
                        # 410: history compacted; relisting loses the writes in between.
                        log(f"watch {resource}: {obj.get('message')}; relisting")
                        version = ""
                        break
                    version = obj["metadata"]["resourceVersion"]
                    if event["type"] != "BOOKMARK":
                        observer.record(resource, event["type"], obj, time.monotonic())
            finally:
                response.release_conn()
        except Exception as e:  # noqa: BLE001 - the control plane stops under the watch at exit
            if stop.is_set():
                return
            if isinstance(e, ApiException) and e.status == 410:
                version = ""
            log(f"watch {resource}: {e!r}; retrying")
            time.sleep(1)


@dataclass(frozen=True)
class Row:
    """One line of the table; None means the phase hit its deadline."""

    scenario: str
    size: str
    metric: str
    floor: float | None
    cheiron: float | None
    fmt: str = "{:.2f}"
    has_floor: bool = True


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class Bench:
    """The cluster, the operator, the watches and the figures of one run."""

    def __init__(self, args: argparse.Namespace, plane: ControlPlane, logdir: Path) -> None:
        self.args = args
        self.kubeconfig = plane.kubeconfig_path
        self.logdir = logdir
        self.api = new_api(self.kubeconfig, args.threads * 2 + 4)
        self.core = client.CoreV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self.observer = Observer()
        self.stop_watches = threading.Event()
        self.operator: OperatorProcess | None = None
        self.operators = 0
        self.rows: list[Row] = []
        self.notes: list[str] = []
        self.converged = False
        self.bench_namespaces: list[str] = []
        self.extra_accounts = [f"sa-{i}" for i in range(1, args.accounts)]
        self.accounts = ["default", *self.extra_accounts]
        self.owner_uid = str(uuid.uuid4())

    # --- infrastructure ---------------------------------------------------------------------

    def start(self) -> None:
        """CRDs, the watches, and the operator."""
        crds.install(self.api)
        for resource in LISTS:
            # One client per watch: each holds its connection for minutes.
            api = new_api(self.kubeconfig, 2)
            threading.Thread(
                target=watch_forever,
                args=(api, resource, self.observer, self.stop_watches),
                daemon=True,
                name=f"watch-{resource}",
            ).start()
        self.operator = self.new_operator(wait=True)
        log(f"operator up, pid {operator_pid(self.operator)}")

    def new_operator(self, *, wait: bool) -> OperatorProcess:
        """Start an operator; with wait=False return as soon as the process is spawned."""
        self.operators += 1
        operator = OperatorProcess(
            self.kubeconfig, self.logdir / f"operator-{self.operators}.log", wait=wait
        )
        operator.start()
        return operator

    def close(self) -> None:
        """Stop the operator and the watches."""
        if self.operator is not None:
            self.operator.stop()
            self.operator = None
        self.stop_watches.set()

    def settle(self, cap: float = 120.0) -> None:
        """Wait until the operator idles and nothing changed for a while (at most `cap` s).

        One phase's tail must not be billed to the next, on a machine that is noisy anyway.
        """
        assert self.operator is not None
        pid = operator_pid(self.operator)
        deadline = time.monotonic() + cap
        cpu = proc_cpu_seconds(pid)
        while time.monotonic() < deadline:
            time.sleep(1)
            now_cpu = proc_cpu_seconds(pid)
            busy, cpu = now_cpu - cpu, now_cpu
            if busy < 0.05 and time.monotonic() - self.observer.last_change > SETTLE_AFTER:
                return
        log(f"still busy after {cap:.0f}s; going on")

    def alive(self) -> bool:
        """Whether the operator process still runs."""
        proc = None if self.operator is None else self.operator._proc  # private in Background
        return proc is not None and proc.poll() is None

    def await_cheiron(self, keys: Collection[Key], deadline: float, what: str) -> float | None:
        """Like Observer.await_patched, but a dead operator fails the run instead of hanging."""
        end = self.observer.await_patched(keys, deadline, what, self.alive)
        if not self.alive():
            raise RuntimeError(f"{what}: the operator exited; see its log in {self.logdir}")
        return end

    def deadline(self) -> float:
        """The end of a phase started now."""
        return time.monotonic() + float(self.args.timeout)

    # --- set-up (untimed) -------------------------------------------------------------------

    def make_namespaces(self, names: Sequence[str], *, labelled: bool) -> None:
        """Namespaces with their extra ServiceAccounts; returns once every `default` exists."""
        labels = {LABEL_KEY: LABEL_VALUE} if labelled else {}

        def one(ns: str) -> None:
            self.create_namespace(ns, labels)
            self.create_accounts(ns)

        log(f"set-up: {len(names)} namespaces x {len(self.accounts)} accounts")
        fan_out(self.args.threads, one, names)
        # Set-up is not a measured phase: a short --timeout must not make it fail.
        setup_deadline = time.monotonic() + max(float(self.args.timeout), 600.0)
        self.observer.wait_accounts(self.keys(names), setup_deadline, "set-up accounts")

    def create_namespace(self, ns: str, labels: dict[str, str]) -> None:
        """One namespace."""
        call(self.core.create_namespace, {"metadata": {"name": ns, "labels": labels}})

    def create_accounts(self, ns: str) -> None:
        """The bench's ServiceAccounts (`default` is the controller-manager's)."""
        for name in self.extra_accounts:
            call(self.core.create_namespaced_service_account, ns, {"metadata": {"name": name}})

    def keys(self, namespaces: Iterable[str]) -> list[Key]:
        """Every account of these namespaces."""
        return [(ns, name) for ns in namespaces for name in self.accounts]

    def create_cluster_manager(self) -> None:
        """The ClusterImagePullSecretManager that selects the labelled namespaces."""
        body = manager_body("bench", [inline(ENTRY)], cluster=True)
        body["spec"]["target"] = {
            "namespaces": {"labels": [{"matchLabels": {LABEL_KEY: LABEL_VALUE}}]}
        }
        create_manager(self.custom, None, body)

    # --- the floor --------------------------------------------------------------------------

    def floor_secret(self, ns: str) -> dict[str, Any]:
        """A pull Secret shaped like cheiron's."""
        auth = base64.b64encode(b"robot:pw").decode()
        config_json = json.dumps(
            {"auths": {"ghcr.io": {"username": "robot", "password": "pw", "auth": auth}}}
        )
        return {
            "metadata": {
                "name": ENTRY,
                "namespace": ns,
                "labels": {MANAGED_BY_LABEL: "floor", floor_key(OWNER_UID_LABEL): self.owner_uid},
                "annotations": {floor_key(OWNER_ANNOTATION): "bench"},
            },
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": base64.b64encode(config_json.encode()).decode()},
        }

    def floor_account(self, ns: str, name: str) -> None:
        """The two patches cheiron makes on one account: the mark, then the append."""
        marks = {floor_key(RECONCILABLE): TRUE, floor_key(RECONCILE_WITH): ENTRY}
        marked = call(
            self.core.patch_namespaced_service_account,
            name,
            ns,
            {"metadata": {"annotations": marks}},
        )
        # Like cheiron's append: guarded by the resourceVersion, listing the whole array.
        call(
            self.core.patch_namespaced_service_account,
            name,
            ns,
            {
                "metadata": {
                    "resourceVersion": marked["metadata"]["resourceVersion"],
                    "annotations": {floor_key(RECONCILED): TRUE, floor_key(ADDED): ENTRY},
                },
                "imagePullSecrets": [{"name": ENTRY}],
            },
        )

    def floor_namespace(self, ns: str) -> None:
        """All of cheiron's writes in one namespace, in order."""
        call(self.core.create_namespaced_secret, ns, self.floor_secret(ns))
        for name in self.accounts:
            self.floor_account(ns, name)

    def run_floor(self, namespaces: Sequence[str], deadline: float) -> float | None:
        """Seconds for the floor's writes on existing namespaces, until the watch saw them."""
        log(f"floor: {len(namespaces)} namespaces on {self.args.threads} threads")
        start = time.monotonic()
        fan_out(self.args.threads, self.floor_namespace, namespaces)
        end = self.observer.await_patched(self.keys(namespaces), deadline, "floor")
        return None if end is None else end - start

    def floor_new_namespace(self, ns: str, deadline: float) -> float | None:
        """Seconds from creating a namespace to its `default` listing the floor's Secret."""
        start = time.monotonic()
        self.create_namespace(ns, {})
        if not self.observer.wait_account((ns, "default"), deadline):
            return None
        call(self.core.create_namespaced_secret, ns, self.floor_secret(ns))
        self.floor_account(ns, "default")
        end = self.observer.await_patched([(ns, "default")], deadline, f"floor {ns}")
        return None if end is None else end - start

    # --- figures ----------------------------------------------------------------------------

    def writes_per_account(
        self, namespaces: Collection[str], start: float, end: float = math.inf
    ) -> float:
        """ServiceAccount modifications in these namespaces per account."""
        count = self.observer.count(
            ["serviceaccounts"], ["MODIFIED"], start, end, inside=set(namespaces)
        )
        return count / (len(namespaces) * len(self.accounts))

    def events_per_namespace(
        self, namespaces: Collection[str], start: float, end: float = math.inf
    ) -> float:
        """Events created in these namespaces, per namespace."""
        count = self.observer.count(["events"], ["ADDED"], start, end, inside=set(namespaces))
        return count / len(namespaces)

    def write_rows(
        self,
        scenario: str,
        size: str,
        floor: tuple[Collection[str], float],
        cheiron: tuple[Collection[str], float, float],
    ) -> None:
        """Writes per account and Events per namespace of a floor and a cheiron phase."""
        floor_ns, floor_start = floor
        ns, start, end = cheiron
        self.rows.append(
            Row(
                scenario,
                size,
                "ServiceAccount writes per account",
                self.writes_per_account(floor_ns, floor_start),
                self.writes_per_account(ns, start, end),
            )
        )
        self.rows.append(
            Row(
                scenario,
                size,
                "Events created per namespace",
                self.events_per_namespace(floor_ns, floor_start),
                self.events_per_namespace(ns, start, end),
            )
        )

    def operator_cpu(self) -> float:
        """CPU seconds of the current operator so far."""
        assert self.operator is not None
        return proc_cpu_seconds(operator_pid(self.operator))

    # --- scenarios --------------------------------------------------------------------------

    def converge(self, *, measure: bool) -> None:
        """N namespaces exist, then one cluster manager appears: time until all accounts list it."""
        n = self.args.namespaces
        self.bench_namespaces = [f"scale-{i:04d}" for i in range(n)]
        floor_ns = [f"floor-converge-{i:04d}" for i in range(n)]
        self.make_namespaces(self.bench_namespaces, labelled=True)
        size = f"{n} ns"
        floor, floor_start = None, 0.0
        if measure:
            self.make_namespaces(floor_ns, labelled=False)
            self.settle()
            floor_start = time.monotonic()
            floor = self.run_floor(floor_ns, self.deadline())
        self.settle()
        log(f"converge: creating the ClusterImagePullSecretManager over {n} namespaces")
        cpu = self.operator_cpu()
        start = time.monotonic()
        self.create_cluster_manager()
        end = self.await_cheiron(
            self.keys(self.bench_namespaces), start + self.args.timeout, "converge"
        )
        self.converged = end is not None
        if not measure:
            return
        cpu = self.operator_cpu() - cpu
        window_end = (end if end is not None else time.monotonic()) + SETTLE_AFTER
        time.sleep(max(0.0, window_end - time.monotonic()))
        self.rows.append(
            Row(
                "converge",
                size,
                "seconds until every account lists it",
                floor,
                None if end is None else end - start,
            )
        )
        self.write_rows(
            "converge", size, (floor_ns, floor_start), (self.bench_namespaces, start, window_end)
        )
        secrets = self.observer.count(
            ["secrets"],
            ["ADDED", "MODIFIED", "DELETED"],
            start,
            window_end,
            inside=set(self.bench_namespaces),
        )
        self.notes.append(
            f"converge: cheiron wrote {secrets / n:.2f} Secret changes per namespace, "
            f"operator CPU {cpu:.1f}s"
        )

    def ensure_converged(self) -> None:
        """The cluster manager over N namespaces, converged, whether or not converge is timed."""
        if not self.bench_namespaces:
            log("set-up: converging the cluster manager (untimed)")
            self.converge(measure=False)
        note = "the cluster manager never converged: later figures are suspect"
        if not self.converged and note not in self.notes:
            self.notes.append(note)

    def new_namespace(self) -> None:
        """Labelled namespaces one at a time: latency to their `default` listing the Secret.

        With --compare-at M (and no converge before it) the same samples are taken at M
        namespaces first, then at N, in one run: on a shared machine the tail of one run is
        not comparable with another run's.
        """
        smaller = int(self.args.compare_at)
        if smaller and not self.bench_namespaces and smaller < self.args.namespaces:
            names = [f"scale-{i:04d}" for i in range(self.args.namespaces)]
            self.bench_namespaces = names[:smaller]
            self.make_namespaces(self.bench_namespaces, labelled=True)
            self.settle()
            log(f"set-up: the cluster manager over {smaller} namespaces (untimed)")
            self.create_cluster_manager()
            end = self.await_cheiron(self.keys(self.bench_namespaces), self.deadline(), "set-up")
            self.converged = end is not None
            at_smaller = self.sample_new_namespaces(f"{smaller} ns", "a")
            rest = names[smaller:]
            self.make_namespaces(rest, labelled=True)
            self.await_cheiron(self.keys(rest), self.deadline(), "grow")
            self.bench_namespaces = names
            at_full = self.sample_new_namespaces(f"{self.args.namespaces} ns", "b")
            for name, p in (("p50", 50.0), ("p99", 99.0)):
                for what, i in (("floor", 0), ("cheiron", 1)):
                    small = summary(at_smaller[i], p, len(at_smaller[i]))
                    full = summary(at_full[i], p, len(at_full[i]))
                    if small and full:
                        self.notes.append(
                            f"new-namespace: {what} {name} at {self.args.namespaces} ns / at "
                            f"{smaller} ns = {full:.3f}s / {small:.3f}s = {full / small:.2f}"
                        )
            return
        if smaller:
            self.notes.append("--compare-at needs new-namespace to run before converge")
        self.ensure_converged()
        self.sample_new_namespaces(f"{self.args.namespaces} ns", "")

    def sample_new_namespaces(
        self, size: str, tag: str
    ) -> tuple[list[float | None], list[float | None]]:
        """Floor and cheiron samples taken in turns, so that drift weighs on both alike."""
        self.settle()
        samples = int(self.args.new_namespaces)
        log(f"new-namespace at {size}: {samples} namespaces one by one, floor and cheiron")
        deadline = self.deadline()
        floor: list[float | None] = []
        latencies: list[float | None] = []
        floor_started: dict[str, float] = {}
        started: dict[str, float] = {}
        for i in range(samples):
            ns = f"floor-new-{tag}{i:03d}"
            floor_started[ns] = time.monotonic()
            floor.append(self.floor_new_namespace(ns, deadline))
            ns = f"scale-new-{tag}{i:03d}"
            started[ns] = start = time.monotonic()
            self.create_namespace(ns, {LABEL_KEY: LABEL_VALUE})
            end = self.await_cheiron([(ns, "default")], deadline, f"new {ns}")
            latencies.append(None if end is None else end - start)
            if floor[-1] is None or end is None:
                break
        self.notes.extend(self.hop_notes(started))
        # From the controller-manager's creating `default` on: the part that is cheiron's.
        after: list[float | None] = [self.after_default(ns) for ns in started]
        floor_after: list[float | None] = [self.after_default(ns) for ns in floor_started]
        for what, floor_values, values in (
            ("create -> default lists it", floor, latencies),
            ("default exists -> lists it", floor_after, after),
        ):
            for name, p in (("p50", 50.0), ("p99", 99.0), ("max", 100.0)):
                self.rows.append(
                    Row(
                        "new-namespace",
                        size,
                        f"{what}, {name} (s)",
                        summary(floor_values, p, samples),
                        summary(values, p, samples),
                        "{:.3f}",
                    )
                )
        return floor, latencies

    def after_default(self, ns: str) -> float | None:
        """Seconds from `default` appearing in a namespace to its listing the Secret."""
        created = next(
            (
                c.at
                for c in self.observer.changes_in(ns, 0.0)
                if c.resource == "serviceaccounts" and c.name == "default" and c.type == "ADDED"
            ),
            None,
        )
        patched = self.observer.patched_at.get((ns, "default"))
        return None if created is None or patched is None else patched - created

    def hop_notes(self, started: dict[str, float]) -> list[str]:
        """Where a new namespace's latency goes: seconds from its create to each write seen."""
        hops: dict[str, list[float]] = {"default created": [], "Secret": [], "mark": []}
        for ns, start in started.items():
            firsts: dict[str, float] = {}
            for c in self.observer.changes_in(ns, start):
                if c.resource == "secrets" and c.name == ENTRY:
                    hop = "Secret"
                elif c.resource == "serviceaccounts" and c.name == "default":
                    hop = "default created" if c.type == "ADDED" else "mark"
                else:
                    continue
                firsts.setdefault(hop, c.at - start)
            for hop, at in firsts.items():
                hops[hop].append(at)
        return [
            f"new-namespace: {hop} after {len(v)} creates: p50 {percentile(v, 50):.3f}s, "
            f"p99 {percentile(v, 99):.3f}s"
            for hop, v in hops.items()
            if v
        ]

    def burst(self) -> None:
        """Many labelled namespaces at once: time from the first create until all are patched."""
        self.ensure_converged()
        size = f"{BURST_NAMESPACES} new, {self.args.namespaces} ns"
        self.settle()
        floor_ns = [f"floor-burst-{i:03d}" for i in range(BURST_NAMESPACES)]
        log(f"burst: floor, {BURST_NAMESPACES} namespaces")
        deadline = self.deadline()

        def floor_one(ns: str) -> None:
            self.create_namespace(ns, {})
            self.create_accounts(ns)
            call(self.core.create_namespaced_secret, ns, self.floor_secret(ns))
            for name in self.extra_accounts:
                self.floor_account(ns, name)
            if self.observer.wait_account((ns, "default"), deadline):
                self.floor_account(ns, "default")

        floor_start = time.monotonic()
        fan_out(self.args.threads, floor_one, floor_ns)
        floor_written = time.monotonic() - floor_start
        floor_end = self.observer.await_patched(self.keys(floor_ns), deadline, "burst floor")
        self.settle()
        names = [f"scale-burst-{i:03d}" for i in range(BURST_NAMESPACES)]
        log(f"burst: cheiron, {BURST_NAMESPACES} namespaces")

        def one(ns: str) -> None:
            self.create_namespace(ns, {LABEL_KEY: LABEL_VALUE})
            self.create_accounts(ns)

        start = time.monotonic()
        deadline = self.deadline()
        fan_out(self.args.threads, one, names)
        created = time.monotonic() - start
        end = self.await_cheiron(self.keys(names), deadline, "burst")
        window_end = (end if end is not None else time.monotonic()) + SETTLE_AFTER
        time.sleep(max(0.0, window_end - time.monotonic()))
        self.rows.append(
            Row(
                "burst",
                size,
                "seconds from first create to all patched",
                None if floor_end is None else floor_end - floor_start,
                None if end is None else end - start,
            )
        )
        self.write_rows("burst", size, (floor_ns, floor_start), (names, start, window_end))
        self.notes.append(
            f"burst: the bench's creates took {created:.2f}s of cheiron's time; the floor's "
            f"creates and writes returned after {floor_written:.2f}s"
        )

    def restart(self) -> None:
        """A bigger cluster, a new operator, and a new namespace the moment it is spawned."""
        self.ensure_converged()
        args = self.args
        size = f"{args.namespaces} ns, {args.pods} pods"
        bench_ns = self.bench_namespaces
        log(f"restart set-up: {args.pods} Pods, {args.unrelated_secrets} Opaque Secrets")

        def pod(i: int) -> None:
            body = {
                "metadata": {"name": f"pod-{i:05d}"},
                "spec": {"containers": [{"name": "main", "image": "registry.invalid/app:1"}]},
            }
            call(self.core.create_namespaced_pod, bench_ns[i % len(bench_ns)], body)

        def secret(i: int) -> None:
            body = {
                "metadata": {"name": f"unrelated-{i:05d}"},
                "type": "Opaque",
                "data": {"value": base64.b64encode(f"value {i}".encode()).decode()},
            }
            call(self.core.create_namespaced_secret, bench_ns[i % len(bench_ns)], body)

        fan_out(args.threads, pod, range(args.pods))
        fan_out(args.threads, secret, range(args.unrelated_secrets))
        self.settle()
        log("restart: floor, one new namespace")
        floor = self.floor_new_namespace("floor-restart", self.deadline())
        self.settle()
        assert self.operator is not None
        rss_before = proc_rss_mib(operator_pid(self.operator))
        stopping = time.monotonic()
        self.operator.stop()
        stopped = time.monotonic() - stopping
        log(f"restart: old operator stopped in {stopped:.1f}s; starting a new one")
        ns = "scale-restart"
        start = time.monotonic()
        self.operator = self.new_operator(wait=False)
        self.create_namespace(ns, {LABEL_KEY: LABEL_VALUE})
        ready_at: list[float] = []
        threading.Thread(
            target=self.watch_ready,
            args=(self.operator, start + args.timeout, ready_at),
            daemon=True,
        ).start()
        end = self.await_cheiron([(ns, "default")], start + args.timeout, "restart")
        window_end = start + RESTART_WINDOW
        time.sleep(max(0.0, window_end + 1 - time.monotonic()))  # the watch delivers late
        elsewhere = {
            resource: self.observer.count(
                [resource], ["ADDED", "MODIFIED", "DELETED"], start, window_end, outside={ns}
            )
            for resource in ("serviceaccounts", "secrets", "pods", "events")
        }
        self.settle()
        rss_after = proc_rss_mib(operator_pid(self.operator))
        self.rows.append(
            Row(
                "restart",
                size,
                "operator start -> new ns default lists it (s)",
                floor,
                None if end is None else end - start,
            )
        )
        self.rows.append(
            Row(
                "restart",
                size,
                f"SA+Secret writes elsewhere in {RESTART_WINDOW:.0f}s",
                0.0,
                float(elsewhere["serviceaccounts"] + elsewhere["secrets"]),
                fmt="{:.0f}",
            )
        )
        self.rows.append(
            Row(
                "restart",
                size,
                "operator RSS once converged (MiB)",
                None,
                rss_after,
                "{:.0f}",
                False,
            )
        )
        ready = f"{ready_at[0] - start:.2f}s" if ready_at else "never"
        self.notes.append(
            f"restart: old operator stopped in {stopped:.1f}s with RSS {rss_before:.0f} MiB; "
            f"the new one answered /readyz after {ready}; "
            f"changes outside {ns} in the {RESTART_WINDOW:.0f}s after start: "
            + ", ".join(f"{k} {v}" for k, v in elsewhere.items())
        )

    @staticmethod
    def watch_ready(operator: OperatorProcess, deadline: float, ready_at: list[float]) -> None:
        """Note when a starting operator first answers /readyz."""
        while time.monotonic() < deadline:
            if operator.ready():
                ready_at.append(time.monotonic())
                return
            time.sleep(0.05)

    def per_namespace_managers(self) -> None:
        """One ImagePullSecretManager per namespace, all created at once."""
        m = self.args.own_managers
        size = f"{m} managers"
        names = [f"own-{i:04d}" for i in range(m)]
        floor_ns = [f"floor-own-{i:04d}" for i in range(m)]
        self.make_namespaces(names, labelled=False)
        self.make_namespaces(floor_ns, labelled=False)
        self.settle()
        floor_start = time.monotonic()
        floor = self.run_floor(floor_ns, self.deadline())
        self.settle()
        log(f"per-namespace-managers: creating {m} managers")
        cpu = self.operator_cpu()
        start = time.monotonic()
        deadline = self.deadline()
        body = manager_body("m", [inline(ENTRY)])
        fan_out(self.args.threads, lambda ns: create_manager(self.custom, ns, body), names)
        end = self.await_cheiron(self.keys(names), deadline, "per-namespace-managers")
        cpu = self.operator_cpu() - cpu
        window_end = (end if end is not None else time.monotonic()) + SETTLE_AFTER
        time.sleep(max(0.0, window_end - time.monotonic()))
        self.rows.append(
            Row(
                "per-namespace-managers",
                size,
                "seconds from first create to all patched",
                floor,
                None if end is None else end - start,
            )
        )
        self.write_rows(
            "per-namespace-managers", size, (floor_ns, floor_start), (names, start, window_end)
        )
        self.notes.append(f"per-namespace-managers: operator CPU {cpu:.1f}s")


def summary(values: Sequence[float | None], p: float, expected: int) -> float | None:
    """A percentile of latencies; None when any of the expected samples timed out."""
    done = [v for v in values if v is not None]
    if len(done) < expected:
        return None
    return percentile(done, p)


def cell(value: float | None, fmt: str) -> str:
    """A figure, or `timeout`."""
    return "timeout" if value is None else fmt.format(value)


def ratio(row: Row) -> str:
    """The ratio cheiron / floor."""
    if not row.has_floor or row.floor is None or row.cheiron is None:
        return "-" if not row.has_floor else "timeout"
    if row.floor == 0:
        return "-"
    return f"{row.cheiron / row.floor:.1f}x"


def render(rows: Sequence[Row]) -> str:
    """The table."""
    header = ("scenario", "size", "metric", "floor", "cheiron", "ratio")
    lines = [
        (
            r.scenario,
            r.size,
            r.metric,
            cell(r.floor, r.fmt) if r.has_floor else "-",
            cell(r.cheiron, r.fmt),
            ratio(r),
        )
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=False)]
    right = {3, 4, 5}

    def fmt_line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if i in right else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    return "\n".join([fmt_line(header), *(fmt_line(line) for line in lines)])


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--namespaces", type=int, default=1000, help="cluster manager targets")
    parser.add_argument("--accounts", type=int, default=5, help="ServiceAccounts per namespace")
    parser.add_argument("--threads", type=int, default=8, help="floor and set-up threads")
    parser.add_argument(
        "--new-namespaces", type=int, default=20, help="new-namespace: samples, one by one"
    )
    parser.add_argument(
        "--compare-at",
        type=int,
        default=0,
        help="new-namespace: sample at this many namespaces too, before growing to --namespaces",
    )
    parser.add_argument("--pods", type=int, default=10_000, help="restart: bare Pods")
    parser.add_argument("--unrelated-secrets", type=int, default=5_000, help="restart: Opaque")
    parser.add_argument("--own-managers", type=int, default=500, help="namespaced managers")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per phase")
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"comma list of {', '.join(SCENARIOS)}"
    )
    args = parser.parse_args()
    chosen = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown or not chosen:
        parser.error(f"unknown scenarios {unknown}; choose from {', '.join(SCENARIOS)}")
    if args.accounts < 1 or args.namespaces < 1 or args.threads < 1:
        parser.error("--namespaces, --accounts and --threads must be at least 1")
    args.chosen = [s for s in SCENARIOS if s in chosen]
    return args


def main() -> None:
    """Run the chosen scenarios and print the table."""
    args = parse_args()
    print("$ " + shlex.join(["python", *sys.argv]), flush=True)
    logdir = Path(tempfile.mkdtemp(prefix="cheiron-scale-"))
    log(f"operator logs in {logdir}")
    began = time.monotonic()
    with ControlPlane() as plane:
        bench = Bench(args, plane, logdir)
        try:
            bench.start()
            steps: dict[str, Callable[[], None]] = {
                "converge": lambda: bench.converge(measure=True),
                "new-namespace": bench.new_namespace,
                "burst": bench.burst,
                "restart": bench.restart,
                "per-namespace-managers": bench.per_namespace_managers,
            }
            for scenario in args.chosen:
                log(f"== {scenario}")
                steps[scenario]()
        finally:
            with contextlib.suppress(Exception):
                bench.close()
    print(
        f"namespaces={args.namespaces} accounts={args.accounts} threads={args.threads} "
        f"pods={args.pods} unrelated-secrets={args.unrelated_secrets} "
        f"own-managers={args.own_managers} timeout={args.timeout:g}s "
        f"(run took {time.monotonic() - began:.0f}s)"
    )
    print(
        f"floor: plain client, {args.threads} threads, cheiron's writes on floor- namespaces; "
        "ratio = cheiron / floor"
    )
    print()
    print(render(bench.rows))
    if bench.notes:
        print()
        for note in bench.notes:
            print(f"note: {note}")
    print(f"operator logs: {logdir}")


if __name__ == "__main__":
    main()
