"""A Pod reaches this host, the apiserver through its Service, and nothing beyond.

"Beyond" is another machine the test makes without leaving this one: a network namespace
joined to the host by a veth pair, holding 198.18.7.7 (of the benchmarking range 198.18.0.0/15)
and a web server on it, reachable from the host. Without the fence a Pod would reach it (the
host forwards, and routes 198.18.7.0/24 into the pair); with the fence, the Pod's packets are
dropped before they enter the pair, also when a Service (which any namespace user may point
at any address with an EndpointSlice of their own) leads there through kube-proxy's DNAT.
Before anything is sent there, the fixture checks that
the host routes the address into the pair: were the range the host's own network, the test
stops instead of sending a packet out.
"""

import base64
import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
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
UNSHARE = "/usr/bin/unshare"  # util-linux
NSENTER = "/usr/bin/nsenter"
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


# The machine beyond: waits until its address is there, then serves HTTP on port 80.
BEYOND_SERVER = """
import http.server, sys, time
for _ in range(300):
    try:
        server = http.server.HTTPServer((sys.argv[1], 80), http.server.SimpleHTTPRequestHandler)
        break
    except OSError:
        time.sleep(0.1)
server.serve_forever()
"""


@pytest.fixture
def beyond(tmp_path: Path) -> Iterator[Callable[[], int]]:
    """The machine beyond, serving HTTP on BEYOND:80; what counts the IP packets it received.

    Its network namespace belongs to its process (`unshare`), not to /run/netns, which
    the node's Pods use: it goes when the process goes, and takes the veth pair with it.
    """
    server = subprocess.Popen(
        [UNSHARE, "--net", "--", sys.executable, "-c", BEYOND_SERVER, BEYOND],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ip("link", "add", PROBE_HOST_SIDE, "type", "veth", "peer", "name", PROBE_PEER_SIDE)
        ip("link", "set", PROBE_PEER_SIDE, "netns", str(server.pid))
        # No IPv6 on the pair: nothing but what the test sends, and what a Pod might.
        Path(f"/proc/sys/net/ipv6/conf/{PROBE_HOST_SIDE}/disable_ipv6").write_text("1")
        taken = route_device(BEYOND)
        if taken not in {None, default_route_device()}:
            pytest.fail(f"{PROBE_NET}.0/24 is routed to {taken} on this host: pick another")
        ip("addr", "add", f"{PROBE_NET}.1/24", "dev", PROBE_HOST_SIDE)
        ip("link", "set", PROBE_HOST_SIDE, "up")

        def inside(*args: str) -> None:
            subprocess.run(
                [NSENTER, "-t", str(server.pid), "-n", IP, *args], check=True, capture_output=True
            )

        inside("addr", "add", f"{BEYOND}/24", "dev", PROBE_PEER_SIDE)
        inside("link", "set", PROBE_PEER_SIDE, "up")
        inside("link", "set", "lo", "up")
        inside("route", "add", POD_CIDR, "via", f"{PROBE_NET}.1")
        # Nothing is sent to BEYOND unless it stays in the pair.
        assert route_device(BEYOND) == PROBE_HOST_SIDE, "the probe address is not ours"
        # Counted by a rule of its own firewall: IP packets only, not the pair's ARP chatter.
        inside_iptables = [NSENTER, "-t", str(server.pid), "-n", IPTABLES, "-w"]
        subprocess.run([*inside_iptables, "-A", "INPUT", "-i", PROBE_PEER_SIDE], check=True)

        def received() -> int:
            out = subprocess.run(
                [*inside_iptables, "-L", "INPUT", "-v", "-x", "-n"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.splitlines()
            return int(out[2].split()[0])

        # The host reaches it (the Pod's only obstacle is the fence), and the counter counts.
        eventually(lambda: answers(f"http://{BEYOND}/"), timeout=15, what="the machine beyond")
        assert received() > 0
        yield received
    finally:
        server.terminate()
        server.wait()
        subprocess.run([IP, "link", "del", PROBE_HOST_SIDE], check=False, capture_output=True)


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


def network_state(port: int) -> str:
    """What the host's network looks like to a Pod: for the message of a failed test."""
    commands = [
        [IPTABLES, "-w", "-L", "-v", "-x", "-n"],
        [IPTABLES, "-w", "-t", "nat", "-L", "-v", "-x", "-n"],
        [IP, "neigh", "show"],
        [IP, "-s", "link", "show", "cheiron0"],
        ["/usr/bin/ss", "-tanp", f"( sport = :{port} )"],
    ]
    return "\n".join(
        subprocess.run(command, check=False, capture_output=True, text=True).stdout
        for command in commands
    )


def service_to_beyond(env: Env) -> str:
    """A Service without a selector whose endpoint is the machine beyond; its ClusterIP."""
    service = env.core.create_namespaced_service(
        env.namespace,
        {"metadata": {"name": "beyond"}, "spec": {"ports": [{"port": 80, "targetPort": 80}]}},
    )
    client.DiscoveryV1Api(env.core.api_client).create_namespaced_endpoint_slice(
        env.namespace,
        {
            "metadata": {
                "name": "beyond",
                "labels": {"kubernetes.io/service-name": "beyond"},
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": [BEYOND]}],
            "ports": [{"port": 80, "protocol": "TCP"}],
        },
    )
    cluster_ip: str = service.spec.cluster_ip
    return cluster_ip


def test_the_fence_is_the_first_forward_rule(node: Node) -> None:
    # kube-proxy prepends its own FORWARD rules (ACCEPTs among them) when it starts.
    rules = subprocess.run(
        [IPTABLES, "-w", "-S", "FORWARD"], check=True, capture_output=True, text=True
    ).stdout.splitlines()
    appended = [r for r in rules if r.startswith("-A ")]
    assert appended[0] == f"-A FORWARD -j {FENCE_CHAIN}", rules
    assert any("KUBE" in r for r in appended), "kube-proxy has not set up its rules"


def test_a_pod_reaches_this_host_and_nothing_beyond(
    env: Env, node: Node, beyond: Callable[[], int], host_server: tuple[int, list[str]]
) -> None:
    port, seen = host_server
    apiserver = env.core.read_namespaced_service("kubernetes", "default").spec.cluster_ip
    through_service = service_to_beyond(env)
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
        # Three tries: one report lost on a loaded machine must not read as a blocked host.
        f"send() {{ printf 'GET /%s HTTP/1.0\\r\\n\\r\\n' $1 | nc -w 5 {NODE_IP} {port}; }}; "
        "report() { send $1 || send $1 || send $1; }; "
        "report host-reached; "
        f"if nc -w 3 {BEYOND} 80 </dev/null; then report beyond-reached; "
        "else report beyond-blocked; fi; "
        f"if nc -w 3 {through_service} 80 </dev/null; then report service-beyond-reached; "
        "else report service-beyond-blocked; fi; "
        # The apiserver, through the `kubernetes` Service: as an operator Pod reaches it.
        f"if nc -w 5 {apiserver} 443 </dev/null; then report apiserver-reached; "
        "else report apiserver-blocked; fi"
    )
    spec = busybox_pod_spec(env.image)
    spec["restartPolicy"] = "Never"
    spec["imagePullSecrets"] = [{"name": "pull"}]
    spec["containers"][0]["command"] = ["/bin/sh", "-c", script]
    received_before, drops_before = beyond(), fence_drops()
    env.core.create_namespaced_pod(
        env.namespace, client.V1Pod(metadata=client.V1ObjectMeta(name="probe"), spec=spec)
    )

    try:
        eventually(lambda: len(set(seen)) >= 4, timeout=120, what="the Pod's four reports")
    except AssertionError as e:
        pod = env.core.read_namespaced_pod("probe", env.namespace)
        log = node.container_log(env.namespace, "probe", "main")
        raise AssertionError(
            f"{e}\nreports: {seen}\nPod: {pod.status}\nlog: {log}\nhost: {network_state(port)}"
        ) from e
    assert list(dict.fromkeys(seen)) == [
        "/host-reached",
        "/beyond-blocked",
        "/service-beyond-blocked",
        "/apiserver-reached",
    ]
    assert fence_drops() > drops_before  # the fence saw the Pod's packets, and dropped them
    assert beyond() == received_before  # none got past it
