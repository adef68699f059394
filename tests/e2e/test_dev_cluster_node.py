"""`cheiron dev-cluster --node` as a user runs it: READY once the node is, the host as found after.

It starts a node of its own, so it needs the tier's node not to run yet: it uses none of the
tier's fixtures, and runs first (files run in name order).
"""

import json
import signal
from pathlib import Path

from cheiron.devcluster.node import BRIDGE, NODE_NAME
from tests.support.devcluster import dev_cluster, kubectl_output
from tests.support.host import differences, host_state


def test_dev_cluster_with_a_node_serves_and_leaves_the_host_as_found(tmp_path: Path) -> None:
    assert not Path(f"/sys/class/net/{BRIDGE}").exists(), "another node runs on this host"
    before = host_state()
    kubeconfig = tmp_path / "kc"
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")  # read by containerd at a pull, not here
    trust = ("--trust-registry", f"127.0.0.1:5999={ca}")
    with dev_cluster(kubeconfig, tmp_path, "--node", *trust) as proc:
        node = json.loads(kubectl_output(kubeconfig, "get", "node", NODE_NAME, "-o", "json"))
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready[0]["status"] == "True"
        # Lifted by the node-lifecycle controller once Ready, not by hand.
        assert not node["spec"].get("taints")
        hosts = next(tmp_path.glob("cheiron-node-*/certs.d/127.0.0.1:5999/hosts.toml"))
        assert 'server = "https://127.0.0.1:5999"' in hosts.read_text()

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        assert not list(tmp_path.glob("cheiron-node-*"))
        assert not differences(before, host_state())
