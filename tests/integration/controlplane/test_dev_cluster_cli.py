"""`cheiron dev-cluster` as a user runs it: READY line, a working kubeconfig, clean shutdown."""

import json
import signal
import socket
from pathlib import Path

import pytest

from tests.support.devcluster import dev_cluster, kubectl_output


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_dev_cluster_serves_until_signalled(tmp_path: Path, stop_signal: signal.Signals) -> None:
    kubeconfig = tmp_path / "kc"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    with dev_cluster(kubeconfig, scratch) as proc:
        assert (kubeconfig.stat().st_mode & 0o777) == 0o600
        workdirs = list(scratch.glob("cheiron-cp-*"))
        assert len(workdirs) == 1

        namespaces = kubectl_output(kubeconfig, "get", "ns", "-o", "name").split()
        assert {"namespace/default", "namespace/kube-system", "namespace/kube-public"} <= set(
            namespaces
        )

        server = json.loads(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        port = int(server.rsplit(":", 1)[1])

        proc.send_signal(stop_signal)
        assert proc.wait(timeout=30) == 0
        assert not workdirs[0].exists()
        # The apiserver went down with it, not left behind as an orphan.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
