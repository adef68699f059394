"""`cheiron dev-cluster` run as a user runs it: a subprocess, its READY line, kubectl against it."""

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.tools import kubectl


@contextmanager
def dev_cluster(kubeconfig: Path, scratch: Path, *args: str) -> Iterator[subprocess.Popen[str]]:
    """`cheiron dev-cluster` with TMPDIR `scratch`, yielded once it printed READY; killed after."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "cheiron", "dev-cluster", "--kubeconfig", str(kubeconfig), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(scratch)},
    )
    try:
        assert proc.stdout is not None
        # readline blocks until the line or EOF; start-up has its own deadline inside.
        line = proc.stdout.readline().strip()
        assert line == f"READY {kubeconfig}", proc.stderr.read() if proc.stderr else ""
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def kubectl_output(kubeconfig: Path, *args: str) -> str:
    """What `kubectl --kubeconfig KUBECONFIG ARGS...` prints (it must succeed)."""
    return subprocess.run(
        [str(kubectl()), "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
