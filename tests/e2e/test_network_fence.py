"""A Pod reaches this host and other Pods, and nothing beyond: the node's fence drops the rest.

"Beyond" is another machine the test makes without leaving this one: a network namespace
joined to the host by a veth pair, holding 198.18.7.7 (of the benchmarking range 198.18.0.0/15)
and a web server on it, reachable from the host. Without the fence a Pod would reach it (the
host forwards, and routes 198.18.7.0/24 into the pair); with the fence, the Pod's packets are
dropped before they enter the pair. Before anything is sent there, the fixture checks that
the host routes the address into the pair: were the range the host's own network, the test
stops instead of sending a packet out.
"""

import base64
import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from cheiron.devcluster.cluster import free_port
from cheiron.devcluster.node import FENCE_CHAIN, NODE_IP, POD_CIDR, Node
from tests.e2e.conftest import REGISTRY_USER, Env
from tests.support.pods import busybox_pod_spec
from tests.support.poll import eventually
from tests.support.process import answers

IP = "/usr/sbin/ip"  # iproute2
IPTABLES = "/usr/sbin/iptables"
PROBE_NETNS = "cheiron-probe"
PROBE_HOST_SIDE = "cheiron-probe0"
PROBE_PEER_SIDE = "cheiron-probe1"
PROBE_NET = "198.18.7"  # a /24 of the benchmarking range
BEYOND = f"{PROBE_NET}.7"


def ip(*args: str) -> None:
    subprocess.run([IP, *args], check=True, capture_output=True)


def route_device(address: str) -> str | None:
    """The interface the host would send a packet for `address` out of."""
    out = subprocess.run(
        [IP, "-4", "route", "get", address],
        check=False,
        capture_output=True,
        text=True,
    ).stdout.split()
    return out[out.index("dev") + 1] if "dev" in out else None


def default_route_device() -> str | None:
    """The interface of the host's default route, if it has one."""
    out = subprocess.run(
        [IP, "-4", "route", "show", "default"],
        check=False,
        capture_output=True,
        text=True,
    ).stdout.split()
    return out[out.index("dev") + 1] if "dev" in out else None


@pytest.fixture
def beyond() -> Iterator[Path]:
    """The machine beyond, serving HTTP on BEYOND:80; the host side's transmit counter."""
    netns_dir = Path("/run/netns")
    netns_dir_existed = netns_dir.exists()
    ip("netns", "add", PROBE_NETNS)
    server = None
    try:
        ip("link", "add", PROBE_HOST_SIDE, "type", "veth", "peer", "name", PROBE_PEER_SIDE)
        ip("link", "set", PROBE_PEER_SIDE, "netns", PROBE_NETNS)
        # No IPv6 on the pair: its neighbour discovery would count as traffic.
        Path(f"/proc/sys/net/ipv6/conf/{PROBE_HOST_SIDE}/disable_ipv6").write_text("1")
        taken = route_device(BEYOND)
        if taken not in {None, default_route_device()}:
            pytest.fail(f"{PROBE_NET}.0/24 is routed to {taken} on this host: pick another")
        ip("addr", "add", f"{PROBE_NET}.1/24", "dev", PROBE_HOST_SIDE)
        ip("link", "set", PROBE_HOST_SIDE, "up")
        inside = ("-n", PROBE_NETNS)
        ip(*inside, "addr", "add", f"{BEYOND}/24", "dev", PROBE_PEER_SIDE)
        ip(*inside, "link", "set", PROBE_PEER_SIDE, "up")
        ip(*inside, "link", "set", "lo", "up")
        ip(*inside, "route", "add", POD_CIDR, "via", f"{PROBE_NET}.1")
        # Nothing is sent to BEYOND unless it stays in the pair.
        assert route_device(BEYOND) == PROBE_HOST_SIDE, "the probe address is not ours"
        server = subprocess.Popen(
            [
                IP,
                "netns",
                "exec",
                PROBE_NETNS,
                sys.executable,
                "-m",
                "http.server",
                "--bind",
                BEYOND,
                "80",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # The host reaches it: the Pod's only obstacle is the fence.
        eventually(lambda: answers(f"http://{BEYOND}/"), timeout=15, what="the machine beyond")
        yield Path(f"/sys/class/net/{PROBE_HOST_SIDE}/statistics/tx_packets")
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        subprocess.run([IP, "link", "del", PROBE_HOST_SIDE], check=False)
        subprocess.run([IP, "netns", "del", PROBE_NETNS], check=False)
        # `ip netns add` made /run/netns a mount point of its own: leave it as found.
        if not netns_dir_existed and not any(netns_dir.iterdir()):
            subprocess.run(["/usr/bin/umount", str(netns_dir)], check=False)
            netns_dir.rmdir()


class Recorder(http.server.BaseHTTPRequestHandler):
    """Records the paths the Pod asks for: its report of what it could reach."""

    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def host_server(node: Node) -> Iterator[tuple[int, list[str]]]:
    """An HTTP server on the node's bridge address (this host, as Pods see it)."""
    seen: list[str] = []
    handler = type("Handler", (Recorder,), {"seen": seen})
    server = http.server.ThreadingHTTPServer((NODE_IP, free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


def fence_drops() -> int:
    """Packets the fence's DROP rules have counted."""
    out = subprocess.run(
        [IPTABLES, "-w", "-L", FENCE_CHAIN, "-v", "-x", "-n"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return sum(int(line.split()[0]) for line in out.splitlines() if "DROP" in line.split()[2:3])


def test_a_pod_reaches_this_host_and_nothing_beyond(
    env: Env, node: Node, beyond: Path, host_server: tuple[int, list[str]]
) -> None:
    port, seen = host_server
    auth = base64.b64encode(f"{REGISTRY_USER}:{env.password}".encode()).decode()
    config = {"auths": {env.registry.host: {"auth": auth}}}
    env.core.create_namespaced_secret(
        env.namespace,
        {
            "metadata": {"name": "pull"},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()},
        },
    )
    # nc, not wget: busybox's static wget crashes in a root file system this bare.
    script = (
        f"report() {{ printf 'GET /%s HTTP/1.0\\r\\n\\r\\n' $1 | nc -w 5 {NODE_IP} {port}; }}; "
        "report host-reached; "
        f"if nc -w 3 {BEYOND} 80 </dev/null; then report beyond-reached; "
        "else report beyond-blocked; fi"
    )
    spec = busybox_pod_spec(env.image)
    spec["restartPolicy"] = "Never"
    spec["imagePullSecrets"] = [{"name": "pull"}]
    spec["containers"][0]["command"] = ["/bin/sh", "-c", script]
    sent_before, drops_before = int(beyond.read_text()), fence_drops()
    env.core.create_namespaced_pod(
        env.namespace, client.V1Pod(metadata=client.V1ObjectMeta(name="probe"), spec=spec)
    )

    try:
        eventually(lambda: len(seen) >= 2, timeout=120, what="the Pod's two reports")
    except AssertionError as e:
        pod = env.core.read_namespaced_pod("probe", env.namespace)
        log = node.container_log(env.namespace, "probe", "main")
        raise AssertionError(f"{e}\nreports: {seen}\nPod: {pod.status}\nlog: {log}") from e
    assert seen == ["/host-reached", "/beyond-blocked"]
    assert fence_drops() > drops_before  # the fence saw the Pod's packets, and dropped them
    assert int(beyond.read_text()) == sent_before  # none got past it
