"""`cheiron dev-cluster` as a user runs it: READY line, a working kubeconfig, clean shutdown."""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cheiron.devcluster import default_bin_dir


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_dev_cluster_serves_until_signalled(tmp_path: Path, stop_signal: signal.Signals) -> None:
    kubeconfig = tmp_path / "kc"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cheiron", "dev-cluster", "--kubeconfig", str(kubeconfig)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(scratch)},
    )
    try:
        assert proc.stdout is not None
        # readline blocks until the line or EOF; start-up has its own 90 s deadline inside.
        line = proc.stdout.readline().strip()
        assert line == f"READY {kubeconfig}", proc.stderr.read() if proc.stderr else ""
        assert (kubeconfig.stat().st_mode & 0o777) == 0o600
        workdirs = list(scratch.glob("cheiron-cp-*"))
        assert len(workdirs) == 1

        namespaces = subprocess.run(
            [
                str(default_bin_dir() / "kubectl"),
                "--kubeconfig",
                str(kubeconfig),
                "get",
                "ns",
                "-o",
                "name",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.split()
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
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
