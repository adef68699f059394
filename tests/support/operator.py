"""Runs `cheiron run` as a real process against the test control plane, logs to a file."""

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from cheiron.devcluster.cluster import free_port
from tests.support.poll import eventually
from tests.support.process import Background, answers


@dataclass
class OperatorProcess(Background):
    """One operator process; start() returns once its liveness endpoint answers."""

    kubeconfig: Path
    log_path: Path
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)

    def start(self) -> None:
        """Start the operator and wait until kopf reports it is alive."""
        url = f"http://127.0.0.1:{free_port()}/healthz"
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
                *self.args,
            ],
            {**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
        )

        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"operator exited with {proc.returncode}:\n{self.logs()}")
            return answers(url)

        eventually(up, timeout=60, what="operator liveness")
