"""Runs one real node beside the local control plane: containerd, kubelet, scheduler, proxy.

What it changes on the host, all undone by stop(): a bridge `cheiron0` with the pod network
10.88.0.0/16 (the node's address is the bridge's, 10.88.0.1); an iptables chain that drops
every forwarded packet to or from that bridge, so that a Pod reaches only other Pods and this
host, never another machine; `net.ipv4.ip_forward` (the CNI bridge plugin turns it on);
the kubelet's `kubepods` cgroups; the network namespaces and CNI cache entries of its Pods;
kube-proxy's KUBE-* chains (Services), and a route of the Service range into the bridge so
that this host's own calls to a Service (the apiserver calling a webhook) stay on it.
Everything else (containerd's root and state, the kubelet's root, Pod logs) lives in a
temporary directory. Needs root: containers, mounts, cgroups and iptables are root's.

Registries: containerd trusts only the registries named by `trust` (host:port → CA file);
an image of any other registry is fetched from a closed loopback port instead, so that no
pull leaves this machine either.
"""

import contextlib
import functools
import http.client
import ipaddress
import json
import os
import shlex
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cheiron.devcluster.cluster import (
    DEFAULT_CONTROLLERS,
    NODE_CONTROLLERS,
    Component,
    ControlPlane,
    Started,
    free_port,
    http_ok,
    spawn,
)
from cheiron.devcluster.images import PAUSE_IMAGE, pause_image, write_archive
from cheiron.devcluster.relay import Relay
from cheiron.devcluster.versions import NODE_BINARIES

NODE_NAME = "cheiron-node"
BRIDGE = "cheiron0"
POD_CIDR = "10.88.0.0/16"
NODE_IP = "10.88.0.1"
SERVICE_CIDR = "10.0.0.0/24"  # the apiserver's --service-cluster-ip-range
FENCE_CHAIN = "CHEIRON-NODE-FENCE"
CNI_NETWORK = "cheiron-node"
# Where an image of a registry the node was not told to trust is fetched from: nothing
# listens on the discard port of loopback, so the pull fails here instead of going out.
NOWHERE = "https://127.0.0.1:9"
CNI_BIN = Path("/usr/lib/cni")
CGROUP_ROOT = Path("/sys/fs/cgroup")
NETNS_DIR = Path("/run/netns")
CNI_CACHE = Path("/var/lib/cni")
CONTAINER_LOG_LINKS = Path("/var/log/containers")
SHIM_SOCKETS = Path("/run/containerd/s")
HOST_TOOLS = {
    "containerd": Path("/usr/bin/containerd"),
    "ctr": Path("/usr/bin/ctr"),
    "runc": Path("/usr/sbin/runc"),
    "CNI bridge plugin": CNI_BIN / "bridge",
    "busybox (static)": Path("/bin/busybox"),
    "iptables": Path("/usr/sbin/iptables"),
    "ip": Path("/usr/sbin/ip"),
}


class NodeError(RuntimeError):
    """The node could not be started; the message says why (and which log to read)."""


def plane_for_node(**kwargs: Any) -> ControlPlane:
    """A control plane a Node can join: node controllers, `kubernetes` Service to NODE_IP."""
    return ControlPlane(
        controllers=DEFAULT_CONTROLLERS + NODE_CONTROLLERS, advertise_address=NODE_IP, **kwargs
    )


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed host tools
        list(argv), capture_output=True, text=True, check=check, timeout=60
    )


@dataclass
class Node(Started):
    """One node named `name` of `plane`; use as a context manager or call start() and stop()."""

    plane: ControlPlane
    trust: Mapping[str, Path] = field(default_factory=dict)
    name: str = NODE_NAME
    startup_timeout: float = 120.0
    workdir: Path | None = field(default=None, init=False)
    state_dir: Path | None = field(default=None, init=False)
    _components: list[Component] = field(default_factory=list, init=False)
    _undo: list[Callable[[], object]] = field(default_factory=list, init=False)
    _netns_before: set[str] = field(default_factory=set, init=False)

    # -- where things are --------------------------------------------------------------------

    @property
    def _dir(self) -> Path:
        if self.workdir is None:
            raise NodeError("the node is not started")
        return self.workdir

    @property
    def containerd_socket(self) -> Path:
        """The containerd gRPC socket (for `ctr --address`)."""
        if self.state_dir is None:
            raise NodeError("the node is not started")
        return self.state_dir / "containerd.sock"

    @property
    def kubelet_root(self) -> Path:
        """The kubelet's root: under the short state folder, for its sockets' sake."""
        if self.state_dir is None:
            raise NodeError("the node is not started")
        return self.state_dir / "kubelet"

    @property
    def certs_dir(self) -> Path:
        """The containerd registry host directory (one `host:port/hosts.toml` per registry)."""
        return self._dir / "certs.d"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the node; returns once it is Ready and schedulable."""
        self._preflight()
        self.workdir = Path(tempfile.mkdtemp(prefix="cheiron-node-"))
        # Short: containerd's and the shims' socket paths must fit in 108 bytes.
        self.state_dir = Path(tempfile.mkdtemp(prefix="cheiron-node-", dir="/run"))
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _preflight(self) -> None:
        if os.geteuid() != 0:
            raise NodeError("a node needs root: containers, mounts, cgroups and iptables")
        missing = [f"{what} ({path})" for what, path in HOST_TOOLS.items() if not path.exists()]
        missing += [
            str(self.plane.bin_dir / b)
            for b in NODE_BINARIES
            if not os.access(self.plane.bin_dir / b, os.X_OK)
        ]
        if missing:
            raise NodeError(
                f"missing: {', '.join(missing)}; install them with `make node-tools` and "
                "`make controlplane`"
            )
        if self.plane.advertise_address != NODE_IP:
            raise NodeError(
                f"the control plane's `kubernetes` Service leads to "
                f"{self.plane.advertise_address}, where Pods cannot reach it: start it with "
                f"advertise_address={NODE_IP} (plane_for_node())"
            )
        if Path(f"/sys/class/net/{BRIDGE}").exists():
            raise NodeError(
                f"the bridge {BRIDGE} exists: another node runs, or one was killed before it "
                f"could clean up (`ip link del {BRIDGE}` after stopping it)"
            )
        pods = ipaddress.ip_network(POD_CIDR)
        for line in _run("ip", "-4", "route", "show", check=False).stdout.splitlines():
            prefix = line.split()[0] if line.split() else "default"
            if prefix != "default" and ipaddress.ip_network(prefix, strict=False).overlaps(pods):
                raise NodeError(f"the pod network {POD_CIDR} overlaps this host's route {line}")
        if any((h / "kubepods").exists() for h in _cgroup_hierarchies()):
            raise NodeError("kubepods cgroups exist: another kubelet runs on this host")

    def _start(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        self._prepare_host()
        self._write_containerd_config()
        for host, ca in self.trust.items():
            self.trust_registry(host, ca)
        containerd = self._spawn(
            "containerd", ["/usr/bin/containerd", "--config", str(self._dir / "containerd.toml")]
        )
        self._wait(containerd, deadline, lambda: self._ctr("version", check=False) == 0)
        archive = self._dir / "pause.tar"
        write_archive(pause_image(), archive, PAUSE_IMAGE)
        if self._ctr("images", "import", str(archive)) != 0:
            raise NodeError(f"ctr could not import the pause image:\n{containerd.tail()}")

        kubeconfig = str(self.plane.kubeconfig_path)
        bin_dir = self.plane.bin_dir
        self._spawn(
            "kube-scheduler",
            [
                str(bin_dir / "kube-scheduler"),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
                "--v=1",
            ],
        )
        proxy_ready = self._start_proxy()
        self._write_kubelet_config()
        kubelet = self._spawn(
            "kubelet",
            [
                str(bin_dir / "kubelet"),
                f"--config={self._dir / 'kubelet.yaml'}",
                f"--kubeconfig={kubeconfig}",
                f"--root-dir={self.kubelet_root}",
                f"--hostname-override={self.name}",
                f"--node-ip={NODE_IP}",
                "--v=1",
            ],
        )
        self._wait(kubelet, deadline, self._ready)
        proxy_ready(deadline)

    def _start_proxy(self) -> Callable[[float], None]:
        """The apiserver relayed to the node's address, and kube-proxy for Services.

        Returns what waits for kube-proxy: it needs the Node object, so after the kubelet's.
        """
        port = self.plane.apiserver_port
        relay = Relay((NODE_IP, port), ("127.0.0.1", port))
        relay.start()
        self._undo.append(relay.stop)
        healthz = free_port()
        kubeconfig = str(self.plane.kubeconfig_path)
        proxy = self._spawn(
            "kube-proxy",
            [
                str(self.plane.bin_dir / "kube-proxy"),
                f"--kubeconfig={kubeconfig}",
                f"--hostname-override={self.name}",
                f"--bind-address={NODE_IP}",  # its node's address, without asking the API
                "--proxy-mode=iptables",
                f"--cluster-cidr={POD_CIDR}",
                # NodePorts on the bridge address only: never on this host's other networks,
                # never on loopback (that would need route_localnet, which opens loopback
                # to Pods).
                f"--nodeport-addresses={NODE_IP}/32",
                "--iptables-localhost-nodeports=false",
                # Leave the host's conntrack settings as they are.
                "--conntrack-max-per-core=0",
                "--conntrack-tcp-timeout-established=0",
                "--conntrack-tcp-timeout-close-wait=0",
                f"--healthz-bind-address=127.0.0.1:{healthz}",
                f"--metrics-bind-address=127.0.0.1:{free_port()}",
                "--v=1",
            ],
        )

        def ready(deadline: float) -> None:
            self._wait(proxy, deadline, lambda: http_ok(f"127.0.0.1:{healthz}", "/healthz"))
            # Healthy comes before its first sync: wait for its rules themselves.
            self._wait(proxy, deadline, _proxy_rules_in_place)
            # kube-proxy puts its FORWARD rules first; the fence must see every packet before
            # them (its ESTABLISHED and masquerade-mark ACCEPTs would let some through).
            self._fence_first("iptables")
            self._fence_first("ip6tables")

        return ready

    @staticmethod
    def _fence_first(binary: str) -> None:
        """Make the jump to the fence FORWARD's first rule (again, after kube-proxy's)."""
        # The new jump goes in first, then the old ones go: never a moment without one.
        _run(binary, "-w", "-I", "FORWARD", "1", "-j", FENCE_CHAIN)
        while True:
            rules = _run(binary, "-w", "-S", "FORWARD").stdout.splitlines()
            jumps = [
                number
                for number, rule in enumerate((r for r in rules if r.startswith("-A ")), 1)
                if shlex.split(rule)[1:] == ["FORWARD", "-j", FENCE_CHAIN]
            ]
            if len(jumps) <= 1:
                return
            _run(binary, "-w", "-D", "FORWARD", str(jumps[-1]))

    def stop(self) -> None:
        """Stop everything it started and undo every host change; safe to call twice.

        Every step runs even when an earlier one failed; the failures are raised at the end.
        """
        by_name = {c.name: c for c in self._components}
        running = {n for n, c in by_name.items() if c.popen.poll() is None}
        steps: list[tuple[str, Callable[[], object]]] = []
        if "kubelet" in running:
            # With the kubelet still running, deleted Pods are torn down properly:
            # sandboxes, CNI, volume mounts. Best effort: what it leaves, the next steps get.
            steps.append(("drain", self._drain))
        for name in ("kubelet", "kube-proxy", "kube-scheduler"):
            if name in by_name:
                steps.append((f"stop {name}", by_name[name].stop))
        if "containerd" in running:
            steps.append(("remove containers", self._remove_containers))
        if "containerd" in by_name:
            steps.append(("stop containerd", by_name["containerd"].stop))
        steps += [
            ("kill leftover processes", self._kill_pods_cgroups),
            ("unmount and remove", self._unmount_and_remove),
        ]
        steps += [(f"undo {getattr(u, '__name__', u)}", u) for u in reversed(self._undo)]
        self._components.clear()
        self._undo.clear()
        failures = []
        for what, step in steps:
            try:
                step()
            except Exception as e:  # noqa: BLE001 - the next steps must run all the same
                failures.append(f"{what}: {e!r}")
        if failures:
            raise NodeError("the node did not stop cleanly:\n" + "\n".join(failures))

    # -- registries ----------------------------------------------------------------------------

    def trust_registry(self, host: str, ca: Path | None) -> None:
        """Let Pods pull from https://`host` (host:port), whose certificate `ca` signed.

        With `ca` None: from http://`host`, a plain-HTTP registry on this host (tests only).
        """
        directory = self.certs_dir / host
        directory.mkdir(parents=True, exist_ok=True)
        scheme = "http" if ca is None else "https"
        lines = [
            f'server = "{scheme}://{host}"',
            f'[host."{scheme}://{host}"]',
            '  capabilities = ["pull", "resolve"]',
        ]
        if ca is not None:
            shutil.copyfile(ca, directory / "ca.crt")
            lines.append(f'  ca = "{directory / "ca.crt"}"')
        (directory / "hosts.toml").write_text("\n".join(lines) + "\n")

    def load_image(self, archive: Path, name: str) -> None:
        """Import an OCI archive whose tags become `name:TAG`, as if the node had pulled it.

        What `kind load` does: Pods run it with `imagePullPolicy: Never` (or IfNotPresent).
        """
        result = self._ctr_run("images", "import", "--base-name", name, str(archive))
        if result.returncode != 0:
            raise NodeError(f"ctr could not import {archive}: {result.stderr.strip()}")

    def forget_images(self, host: str) -> list[str]:
        """Remove the images of registry `host` from the node's store; their names.

        What an image garbage collection or a new node does: the next Pod pulls again.
        """
        names = [n for n in self._ctr_lines("images", "ls", "-q") if n.startswith(f"{host}/")]
        for name in names:
            self._ctr("images", "rm", "--sync", name)
        return names

    def container_log(self, namespace: str, pod: str, container: str) -> str:
        """What a container wrote (all its runs): `kubectl logs` cannot reach this kubelet."""
        logs = self._dir / "pod-logs"
        return "".join(
            path.read_text(errors="replace")
            for path in sorted(logs.glob(f"{namespace}_{pod}_*/{container}/*.log"))
        )

    # -- the API ---------------------------------------------------------------------------------

    def _api(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        conn = http.client.HTTPSConnection(
            f"127.0.0.1:{self.plane.apiserver_port}", timeout=10, context=self.plane.ssl_context()
        )
        headers = {"Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = (
                "application/merge-patch+json" if method == "PATCH" else "application/json"
            )
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            data = response.read()
            return response.status, json.loads(data) if data else None
        finally:
            conn.close()

    def _ready(self) -> bool:
        """Ready, and the not-ready taint lifted (by the node-lifecycle controller)."""
        try:
            status, node = self._api("GET", f"/api/v1/nodes/{self.name}")
        except (OSError, http.client.HTTPException, ssl.SSLError, ValueError):
            return False
        if status != 200:
            return False
        conditions = node.get("status", {}).get("conditions", [])
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
        taints = node.get("spec", {}).get("taints") or []
        return ready and not any(t["key"].startswith("node.kubernetes.io/") for t in taints)

    def _drain(self) -> None:
        """Cordon the node, delete its Pods at once and wait until the kubelet let them go."""
        with contextlib.suppress(OSError, http.client.HTTPException, ValueError):
            self._drain_once(deadline=time.monotonic() + 30)

    def _drain_once(self, deadline: float) -> None:
        self._api("PATCH", f"/api/v1/nodes/{self.name}", {"spec": {"unschedulable": True}})
        selector = f"spec.nodeName={self.name}"
        _, pods = self._api("GET", f"/api/v1/pods?fieldSelector={selector}")
        for pod in pods.get("items", []):
            meta = pod["metadata"]
            self._api(
                "DELETE",
                f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
                {"gracePeriodSeconds": 0},
            )
        while time.monotonic() < deadline:
            if not self._sandbox_dirs():
                return
            time.sleep(0.5)

    def _sandbox_dirs(self) -> list[Path]:
        pods = self.kubelet_root / "pods"
        return list(pods.iterdir()) if pods.is_dir() else []

    # -- host changes and their undoing ----------------------------------------------------------

    def _prepare_host(self) -> None:
        """Each change is recorded with its undoing before the next one is made."""
        undo = self._undo.append
        forward = Path("/proc/sys/net/ipv4/ip_forward")
        was = forward.read_text()
        undo(functools.partial(forward.write_text, was))
        self._netns_before = set(os.listdir(NETNS_DIR)) if NETNS_DIR.is_dir() else set()
        undo(_forget_cni_results)
        undo(_remove_kubepods_cgroups)
        chains_before = _kube_chains()
        undo(lambda: _remove_chains(_kube_chains() - chains_before))
        # Made by the kubelet, by CNI, and by containerd (its shims' sockets: a fixed path).
        for directory in (CONTAINER_LOG_LINKS, NETNS_DIR, SHIM_SOCKETS.parent):
            if not directory.exists():
                undo(functools.partial(_remove_empty_tree, directory))
        if not NETNS_DIR.exists():
            # `ip netns add` (a test's, say) makes the directory a mount point of its own.
            undo(functools.partial(_run, "umount", str(NETNS_DIR), check=False))
        _run("ip", "link", "add", BRIDGE, "type", "bridge")
        undo(functools.partial(_run, "ip", "link", "del", BRIDGE, check=False))
        _run("ip", "addr", "add", f"{NODE_IP}/16", "dev", BRIDGE)
        _run("ip", "link", "set", BRIDGE, "up")
        # Routes go with their device: deleting the bridge removes this one.
        _run("ip", "route", "add", SERVICE_CIDR, "dev", BRIDGE, "src", NODE_IP)
        # The fence: forwarded traffic may neither leave nor enter the pod bridge. Pods
        # still reach each other (bridged, or routed back into the bridge) and this host.
        self._fence(
            "iptables",
            [
                ["-i", BRIDGE, "-o", BRIDGE, "-j", "RETURN"],
                ["-i", BRIDGE, "-j", "DROP"],
                ["-o", BRIDGE, "-j", "DROP"],
            ],
        )
        # No IPv6 on the pod network: drop it whole, in case a Pod finds a way to send some.
        self._fence("ip6tables", [["-i", BRIDGE, "-j", "DROP"], ["-o", BRIDGE, "-j", "DROP"]])

    def _fence(self, binary: str, rules: Sequence[Sequence[str]]) -> None:
        """FENCE_CHAIN with `rules`, jumped to first thing in FORWARD."""
        _run(binary, "-w", "-N", FENCE_CHAIN)
        self._undo.append(functools.partial(_remove_chains, {(binary, "filter", FENCE_CHAIN)}))
        for rule in rules:
            _run(binary, "-w", "-A", FENCE_CHAIN, *rule)
        self._fence_first(binary)

    def _remove_containers(self) -> None:
        """Whatever the kubelet left running: kill the tasks, remove them and their containers."""
        tasks = self._ctr_lines("tasks", "ls", "-q")
        for task in tasks:
            self._ctr("tasks", "kill", "-s", "SIGKILL", task, check=False)
        for task in tasks:
            self._ctr("tasks", "rm", "-f", task, check=False)
        for container in self._ctr_lines("containers", "ls", "-q"):
            self._ctr("containers", "rm", container, check=False)

    def _kill_pods_cgroups(self) -> None:
        """Every process still in a kubepods cgroup (a shim's child that outlived it)."""
        for hierarchy in _cgroup_hierarchies():
            root = hierarchy / "kubepods"
            if not root.is_dir():
                continue
            for procs in root.rglob("cgroup.procs"):
                with contextlib.suppress(OSError, ValueError):
                    for pid in procs.read_text().split():
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(int(pid), signal.SIGKILL)

    def _unmount_and_remove(self) -> None:
        """Mounts under our directories and our Pods' network namespaces, then the files."""
        names = set(os.listdir(NETNS_DIR)) if NETNS_DIR.is_dir() else set()
        netns_new = {NETNS_DIR / n for n in names - self._netns_before}
        roots = [p for p in (self.workdir, self.state_dir) if p is not None]
        for mount in _mounts_deepest_first():
            inside = any(mount == r or r in mount.parents for r in roots)
            if not (inside or mount in netns_new):
                continue
            if _run("umount", str(mount), check=False).returncode != 0:
                _run("umount", "-l", str(mount), check=False)
        for netns in netns_new:
            # Still busy if another mount namespace holds it; the kernel lets go of it later.
            with contextlib.suppress(OSError):
                netns.unlink(missing_ok=True)
        if CONTAINER_LOG_LINKS.is_dir() and self.workdir is not None:
            for link in CONTAINER_LOG_LINKS.iterdir():
                with contextlib.suppress(OSError):
                    if link.is_symlink() and str(os.readlink(link)).startswith(str(self.workdir)):
                        link.unlink()
        for directory in roots:
            shutil.rmtree(directory, ignore_errors=True)
        self.workdir = self.state_dir = None

    # -- configuration ---------------------------------------------------------------------------

    def _write_containerd_config(self) -> None:
        cni_dir = self._dir / "cni"
        cni_dir.mkdir()
        (cni_dir / f"10-{CNI_NETWORK}.conflist").write_text(
            json.dumps(
                {
                    "cniVersion": "0.4.0",
                    "name": CNI_NETWORK,
                    "plugins": [
                        {
                            "type": "bridge",
                            "bridge": BRIDGE,
                            "isGateway": True,
                            # No masquerading: nothing leaves the node (the fence drops it).
                            "ipMasq": False,
                            "hairpinMode": True,
                            "ipam": {
                                "type": "host-local",
                                "dataDir": str(self._dir / "ipam"),
                                "ranges": [[{"subnet": POD_CIDR, "gateway": NODE_IP}]],
                                "routes": [{"dst": "0.0.0.0/0"}],
                            },
                        }
                    ],
                }
            )
        )
        self.certs_dir.mkdir()
        nowhere = self.certs_dir / "_default"
        nowhere.mkdir()
        (nowhere / "hosts.toml").write_text(f'server = "{NOWHERE}"\n')
        state = self.state_dir
        (self._dir / "containerd.toml").write_text(
            f"""version = 2
root = "{self._dir / "containerd"}"
state = "{state}/containerd"
[grpc]
  address = "{self.containerd_socket}"
[ttrpc]
  address = "{state}/containerd.sock.ttrpc"
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "{self._dir / "opt"}"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "{PAUSE_IMAGE}"
    # This machine lacks CAP_SYS_RESOURCE: no process may lower oom_score_adj below 0, and
    # runc would die on a sandbox's -998.
    restrict_oom_score_adj = true
    stream_server_address = "127.0.0.1"
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
          Root = "{state}/runc"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "{CNI_BIN}"
      conf_dir = "{cni_dir}"
    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = "{self.certs_dir}"
"""
        )

    def _write_kubelet_config(self) -> None:
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            # No systemd here; a cgroup v1 (hybrid) host; swap may be on.
            "cgroupDriver": "cgroupfs",
            "failCgroupV1": False,
            "failSwapOn": False,
            # The kubelet cannot lower its own oom_score_adj here either.
            "oomScoreAdj": 0,
            "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
            # Loopback only: the kubelet API is open (anonymous, AlwaysAllow), and Pods reach
            # the node's bridge address. The price: no `kubectl logs` or `exec`.
            "address": "127.0.0.1",
            "port": free_port(),
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": free_port(),
            "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
            "authorization": {"mode": "AlwaysAllow"},
            "staticPodPath": "",
            "podLogsDir": str(self._dir / "pod-logs"),
            # Pods get no nameserver: every name they could look up is off this machine.
            "resolvConf": "",
            "serializeImagePulls": False,
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "1%",
                "nodefs.inodesFree": "1%",
                "imagefs.available": "1%",
            },
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            # Off by default in 1.34: without it a Pod WITHOUT the Secret runs a private
            # image that another Pod pulled before (imagePullPolicy IfNotPresent).
            "featureGates": {"KubeletEnsureSecretPulledImages": True},
        }
        (self._dir / "kubelet.yaml").write_text(json.dumps(config, indent=2))

    # -- processes -------------------------------------------------------------------------------

    def _spawn(self, name: str, argv: Sequence[str]) -> Component:
        component = spawn(name, argv, self._dir / f"{name}.log")
        self._components.append(component)
        return component

    def _ctr(self, *args: str, check: bool = True) -> int:
        result = self._ctr_run(*args)
        if check and result.returncode != 0:
            raise NodeError(f"ctr {' '.join(args)}: {result.stderr.strip()}")
        return result.returncode

    def _ctr_lines(self, *args: str) -> list[str]:
        result = self._ctr_run(*args)
        return result.stdout.split() if result.returncode == 0 else []

    def _ctr_run(self, *args: str) -> subprocess.CompletedProcess[str]:
        socket = str(self.containerd_socket)
        return _run("/usr/bin/ctr", "--address", socket, "-n", "k8s.io", *args, check=False)

    def _wait(self, component: Component, deadline: float, ready: Callable[[], bool]) -> None:
        error = component.wait_ready(ready, deadline)
        if error:
            raise NodeError(error)

    def alive(self) -> list[str]:
        """Names of components that have exited since start (empty when all run)."""
        return [c.name for c in self._components if c.popen.poll() is not None]


Chain = tuple[str, str, str]  # (iptables or ip6tables, table, chain)


def _kube_chains() -> set[Chain]:
    """The KUBE-* chains there are now (the kubelet's and kube-proxy's own)."""
    chains = set()
    for binary in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle"):
            result = _run(binary, "-w", "-t", table, "-S", check=False)
            for line in result.stdout.splitlines():
                if line.startswith("-N KUBE-"):
                    chains.add((binary, table, line.split()[1]))
    return chains


def _remove_chains(chains: set[Chain]) -> None:
    """Remove these chains and the rules that jump to them from other chains."""
    for binary, table in {(b, t) for b, t, _ in chains}:
        names = {c for b, t, c in chains if (b, t) == (binary, table)}
        for line in _run(binary, "-w", "-t", table, "-S", check=False).stdout.splitlines():
            words = shlex.split(line)
            jumps = "-j" in words and words[words.index("-j") + 1] in names
            if words[:1] == ["-A"] and words[1] not in names and jumps:
                _run(binary, "-w", "-t", table, "-D", *words[1:], check=False)
        for verb in ("-F", "-X"):
            for name in names:
                _run(binary, "-w", "-t", table, verb, name, check=False)


def _proxy_rules_in_place() -> bool:
    """kube-proxy's FORWARD jumps and its `kubernetes` Service rule are there."""
    forwards = all(
        "-j KUBE-FORWARD" in _run(b, "-w", "-S", "FORWARD", check=False).stdout
        for b in ("iptables", "ip6tables")
    )
    services = _run("iptables", "-w", "-t", "nat", "-S", "KUBE-SERVICES", check=False).stdout
    return forwards and "-j KUBE-SVC-" in services


def _cgroup_hierarchies() -> list[Path]:
    if not CGROUP_ROOT.is_dir():
        return []
    return [h for h in CGROUP_ROOT.iterdir() if h.is_dir() and not h.is_symlink()]


def _forget_cni_results() -> None:
    """Containerd's CNI library caches each attachment's result under /var/lib/cni."""
    results = CNI_CACHE / "results"
    if results.is_dir():
        for entry in results.iterdir():
            if entry.name.startswith((f"{CNI_NETWORK}-", "cni-loopback-")):
                entry.unlink(missing_ok=True)
    for leftover in (results, CNI_CACHE / "networks", CNI_CACHE):
        with contextlib.suppress(OSError):
            leftover.rmdir()


def _remove_kubepods_cgroups() -> None:
    for hierarchy in _cgroup_hierarchies():
        _remove_empty_tree(hierarchy / "kubepods")


def _remove_empty_tree(root: Path) -> None:
    """Remove `root` and the directories under it, if nothing but directories is left."""
    if not root.is_dir():
        return
    for directory in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            directory.rmdir()
    with contextlib.suppress(OSError):
        root.rmdir()


def _mounts_deepest_first() -> list[Path]:
    mounts = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 1:
            # /proc/mounts escapes spaces and the like as octal.
            mounts.append(Path(fields[1].encode().decode("unicode_escape")))
    return sorted(mounts, key=lambda p: len(p.parts), reverse=True)
