"""Runs `cheiron run` as a real process against the test control plane, logs to a file."""

import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cheiron.devcluster.cluster import free_port
from tests.support.poll import eventually
from tests.support.process import Background, answers

# Tests name real registries (ghcr.io, quay.io) that must never be contacted: only the tests'
# own registries on loopback are asked about credentials, over plain http.
VERIFY_LOOPBACK_ONLY = {
    "CHEIRON_VERIFY_HOSTS": "127.0.0.1:*",
    "CHEIRON_VERIFY_LISTED_ONLY": "true",
    "CHEIRON_VERIFY_INSECURE_HOSTS": "127.0.0.1:*",
}


@dataclass
class OperatorProcess(Background):
    """One operator process; start() returns once its liveness endpoint answers."""

    kubeconfig: Path
    log_path: Path
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    # False: return at once (a standby replica serves no kopf liveness until it leads).
    wait: bool = True
    metrics_port: int = field(default_factory=free_port)
    # Run in the child before it execs (e.g. MemoryCgroup.enter: start it under a limit).
    preexec: Callable[[], None] | None = None

    @property
    def http(self) -> str:
        """Base URL of the operator's /metrics, /healthz and /readyz."""
        return f"http://127.0.0.1:{self.metrics_port}"

    def start(self) -> None:
        """Start the operator and wait until kopf reports it is alive."""
        # Both ports come from free_port(), which may hand out the same free port twice: the
        # metrics server would then take kopf's liveness port, and answer for it.
        port = free_port()
        while port == self.metrics_port:
            port = free_port()
        url = f"http://127.0.0.1:{port}/healthz"
        proc = self.launch(
            [
                sys.executable,
                "-m",
                "cheiron",
                "run",
                "--kubeconfig",
                str(self.kubeconfig),
                "--liveness",
                url,
                "--metrics-host",
                "127.0.0.1",
                "--metrics-port",
                str(self.metrics_port),
                *self.args,
            ],
            {**os.environ, "PYTHONUNBUFFERED": "1", **VERIFY_LOOPBACK_ONLY, **self.env},
            preexec_fn=self.preexec,
        )

        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"operator exited with {proc.returncode}:\n{self.logs()}")
            return answers(url)

        if self.wait:
            eventually(up, timeout=60, what="operator liveness")

    def passes(self, key: str | None = None) -> list[int]:
        """The writes of each reconcile pass logged so far (of one manager key, or of all)."""
        manager = re.escape(key) if key is not None else r"\S+"
        return [
            int(n) for n in re.findall(rf"reconciled {manager}: \w+, (\d+) writes", self.logs())
        ]

    def first_passes(self, key: str, count: int = 3) -> list[int]:
        """The writes of the first `count` passes of a manager, once it has made them."""
        return eventually(
            lambda: self.passes(key)[:count] if len(self.passes(key)) >= count else None,
            what=f"{count} reconcile passes of {key}",
        )

    def ready(self) -> bool:
        """Whether /readyz answers 200 (with leader election: this replica leads)."""
        return answers(f"{self.http}/readyz")

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to clean up."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
