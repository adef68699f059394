"""Starts and stops etcd, kube-apiserver and kube-controller-manager on free loopback ports.

Used by `cheiron dev-cluster`, `make demo` and the integration-test fixture, so that all three
run exactly the same control plane.
"""

import base64
import contextlib
import ctypes
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from cheiron.devcluster.versions import BINARIES, default_bin_dir
from cheiron.pki import ControlPlanePKI, make_control_plane_pki

# Enough for new namespaces to get their ServiceAccount, to finish deleting, for owner
# references to be collected, and for Deployments to produce Pods as on a real cluster.
# Names as Kubernetes 1.33+ spells them (earlier releases had no "-controller" suffix).
DEFAULT_CONTROLLERS = (
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "namespace-controller",
    "garbage-collector-controller",
    "root-ca-certificate-publisher-controller",
    "deployment-controller",
    "replicaset-controller",
    "statefulset-controller",
    "job-controller",
)
# What a cluster with nodes runs besides: the node-lifecycle controller lifts the not-ready
# taint a kubelet registers with, once the node is Ready (nobody lifts it by hand).
NODE_CONTROLLERS = (
    "node-lifecycle-controller",
    "pod-garbage-collector-controller",
    # kube-proxy routes a Service's ClusterIP to the endpoints in its EndpointSlices.
    "endpointslice-controller",
)

_PR_SET_PDEATHSIG = 1


class ControlPlaneError(RuntimeError):
    """The control plane could not be started; the message carries the failing log's tail."""


def _die_with_parent() -> None:
    """Kill the child if its parent dies without cleaning up (a killed pytest, say)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Component:
    """One running binary of the local cluster, with its log."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]

    def tail(self, lines: int = 30) -> str:
        """The last lines of its log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, ready: Callable[[], bool], deadline: float) -> str:
        """Poll `ready` until it holds; else why not (it exited, or the deadline passed)."""
        while True:
            if self.popen.poll() is not None:
                return f"{self.name} exited with {self.popen.returncode}:\n{self.tail()}"
            if ready():
                return ""
            if time.monotonic() > deadline:
                return f"{self.name} not ready in time:\n{self.tail()}"
            time.sleep(0.1)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, SIGKILL after `timeout`; then close the log."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.log_file.close()


def spawn(name: str, argv: Sequence[str], log_path: Path) -> Component:
    """Start `argv` with its output in `log_path`, dying with this process."""
    log_file = log_path.open("wb")
    popen = subprocess.Popen(  # noqa: S603 - fixed binaries from our build cache or Debian
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent,  # noqa: PLW1509 - single-threaded at spawn time
        # Its own process group: a terminal's Ctrl-C reaches only us, and we stop the
        # components in order instead of all dying at once.
        start_new_session=True,
    )
    return Component(name, popen, log_path, log_file)


class Started:
    """A context manager for whatever has start() and stop()."""

    def start(self) -> None:
        """Start it; returns once it serves."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop it and clean up; safe to call twice."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kubeconfig_document(server: str, pki: ControlPlanePKI, *, user: str = "admin") -> str:
    """An admin kubeconfig with all material inlined, so it works wherever it is copied."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "cheiron-dev",
                "cluster": {
                    "server": server,
                    "certificate-authority-data": _b64(pki.ca.cert_pem),
                },
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(pki.admin.cert_pem),
                    "client-key-data": _b64(pki.admin.key_pem),
                },
            }
        ],
        "contexts": [{"name": "cheiron-dev", "context": {"cluster": "cheiron-dev", "user": user}}],
        "current-context": "cheiron-dev",
        "preferences": {},
    }
    # JSON is valid YAML; kubectl and the Python client read it as a kubeconfig.
    return json.dumps(doc, indent=2) + "\n"


@dataclass
class ControlPlane(Started):
    """A throwaway control plane; use as a context manager or call start() and stop()."""

    bin_dir: Path = field(default_factory=default_bin_dir)
    controllers: Sequence[str] = DEFAULT_CONTROLLERS
    startup_timeout: float = 90.0
    # Extra kube-apiserver flags (a test that needs storage behaviour the defaults hide).
    apiserver_args: Sequence[str] = ()
    # The address the `kubernetes` Service leads to. It listens on loopback only: a node
    # relays its own address to it for its Pods (cheiron.devcluster.node).
    advertise_address: str = "127.0.0.1"
    workdir: Path | None = None
    _processes: list[Component] = field(default_factory=list, init=False)
    _pki: ControlPlanePKI | None = field(default=None, init=False)
    _owns_workdir: bool = field(default=False, init=False)
    apiserver_port: int = field(default=0, init=False)
    # etcd's client URL (plain HTTP on loopback), for tests that act on storage directly.
    etcd_url: str = field(default="", init=False)

    @property
    def server(self) -> str:
        """The apiserver's URL."""
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def kubeconfig_path(self) -> Path:
        """The admin kubeconfig inside the working directory."""
        return self._dir / "admin.kubeconfig"

    @property
    def ca_cert_path(self) -> Path:
        """The CA that signed the apiserver's serving certificate."""
        return self._dir / "ca.crt"

    @property
    def _dir(self) -> Path:
        if self.workdir is None:
            raise ControlPlaneError("the control plane is not started")
        return self.workdir

    def start(self) -> None:
        """Start all three components; returns once the apiserver and controllers work."""
        missing = [b for b in BINARIES if not os.access(self.bin_dir / b, os.X_OK)]
        if missing:
            raise ControlPlaneError(
                f"control-plane binaries missing in {self.bin_dir}: {', '.join(missing)}; "
                "build them with `make controlplane` (hack/controlplane/build.sh)"
            )
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="cheiron-cp-"))
            self._owns_workdir = True
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        pki = self._pki = make_control_plane_pki()
        files = self._write_pki(pki)

        etcd_port, etcd_peer_port = free_port(), free_port()
        etcd_url = self.etcd_url = f"http://127.0.0.1:{etcd_port}"
        etcd = self._spawn(
            "etcd",
            [
                "--name=cheiron-dev",
                f"--data-dir={self._dir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{etcd_peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer_port}",
                f"--initial-cluster=cheiron-dev=http://127.0.0.1:{etcd_peer_port}",
                "--unsafe-no-fsync=true",  # throwaway data: durability costs seconds per test
                "--log-level=warn",
            ],
        )
        self._wait(etcd, deadline, lambda: http_ok(f"127.0.0.1:{etcd_port}", "/health"))

        self.apiserver_port = free_port()
        apiserver = self._spawn(
            "kube-apiserver",
            [
                f"--etcd-servers={etcd_url}",
                f"--secure-port={self.apiserver_port}",
                "--bind-address=127.0.0.1",
                f"--advertise-address={self.advertise_address}",
                f"--cert-dir={self._dir / 'apiserver-certs'}",
                f"--tls-cert-file={files['serving.crt']}",
                f"--tls-private-key-file={files['serving.key']}",
                f"--client-ca-file={files['ca.crt']}",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--allow-privileged=true",
                "--authorization-mode=RBAC",
                f"--service-account-issuer={self.server}",
                f"--service-account-key-file={files['sa.pub']}",
                f"--service-account-signing-key-file={files['sa.key']}",
                "--v=1",
                *self.apiserver_args,
            ],
        )
        ctx = self.ssl_context()
        self._wait(
            apiserver,
            deadline,
            lambda: _https_ok(f"127.0.0.1:{self.apiserver_port}", "/readyz", ctx),
        )
        self.kubeconfig_path.write_text(kubeconfig_document(self.server, pki))

        controller_manager = self._spawn(
            "kube-controller-manager",
            [
                f"--kubeconfig={self.kubeconfig_path}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
                f"--service-account-private-key-file={files['sa.key']}",
                f"--root-ca-file={files['ca.crt']}",
                "--use-service-account-credentials=false",
                f"--controllers={','.join(self.controllers)}",
                "--v=1",
            ],
        )
        # The `default` ServiceAccount of `default` only appears once the controller manager
        # runs its controllers: waiting for it proves the whole plane works, not just the API.
        self._wait(
            controller_manager,
            deadline,
            lambda: _https_ok(
                f"127.0.0.1:{self.apiserver_port}",
                "/api/v1/namespaces/default/serviceaccounts/default",
                ctx,
            ),
        )

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context that trusts the apiserver and presents the admin cert."""
        ctx = ssl.create_default_context(cafile=str(self._dir / "ca.crt"))
        ctx.load_cert_chain(str(self._dir / "admin.crt"), str(self._dir / "admin.key"))
        return ctx

    def write_kubeconfig(self, path: Path) -> None:
        """Copy the admin kubeconfig to `path`, readable only by its owner."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.kubeconfig_path.read_text())

    def restart_apiserver(self, down_seconds: float = 0.0) -> None:
        """Stop kube-apiserver, leave it down a while, start it again on the same port.

        What an upgrade or a crash of the API server does to its clients: every connection
        and watch drops, calls fail until it is back. Returns once it is ready again.
        """
        index, old = next(
            (i, p) for i, p in enumerate(self._processes) if p.name == "kube-apiserver"
        )
        old.stop()
        old.log_path.rename(old.log_path.with_suffix(".previous.log"))
        time.sleep(down_seconds)
        args = [str(a) for a in old.popen.args[1:]]  # type: ignore[index]
        new = self._spawn("kube-apiserver", args)
        self._processes.remove(new)
        self._processes[index] = new
        ctx = self.ssl_context()
        deadline = time.monotonic() + self.startup_timeout
        self._wait(
            new, deadline, lambda: _https_ok(f"127.0.0.1:{self.apiserver_port}", "/readyz", ctx)
        )

    def alive(self) -> list[str]:
        """Names of components that have exited since start (empty when all run)."""
        return [p.name for p in self._processes if p.popen.poll() is not None]

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the components in reverse order and remove the working directory."""
        for proc in reversed(self._processes):
            proc.stop(timeout)
        self._processes.clear()
        if self._owns_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
            self._owns_workdir = False

    def _write_pki(self, pki: ControlPlanePKI) -> dict[str, Path]:
        contents = {
            "ca.crt": pki.ca.cert_pem,
            "serving.crt": pki.serving.cert_pem,
            "serving.key": pki.serving.key_pem,
            "admin.crt": pki.admin.cert_pem,
            "admin.key": pki.admin.key_pem,
            "sa.key": pki.service_account_key_pem,
            "sa.pub": pki.service_account_pub_pem,
        }
        paths = {}
        for name, data in contents.items():
            path = self._dir / name
            path.write_bytes(data)
            path.chmod(0o600)
            paths[name] = path
        return paths

    def _spawn(self, name: str, args: list[str]) -> Component:
        proc = spawn(name, [str(self.bin_dir / name), *args], self._dir / f"{name}.log")
        self._processes.append(proc)
        return proc

    def _wait(self, proc: Component, deadline: float, ready: Callable[[], bool]) -> None:
        error = proc.wait_ready(ready, deadline)
        if error:
            raise ControlPlaneError(error)


def http_ok(hostport: str, path: str) -> bool:
    return _get_ok(http.client.HTTPConnection(hostport, timeout=2), path)


def _https_ok(hostport: str, path: str, ctx: ssl.SSLContext) -> bool:
    return _get_ok(http.client.HTTPSConnection(hostport, timeout=2, context=ctx), path)


def _get_ok(conn: http.client.HTTPConnection, path: str) -> bool:
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()
