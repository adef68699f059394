"""Runs `cheiron run` as a real process against the test control plane, logs to a file."""

import os
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from cheiron.devcluster.cluster import free_port
from tests.support.poll import eventually


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback http
            return bool(response.status == 200)
    except OSError:
        return False


@dataclass
class OperatorProcess:
    """One operator process; start() returns once its liveness endpoint answers."""

    kubeconfig: Path
    log_path: Path
    args: tuple[str, ...] = ()
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _log: IO[bytes] | None = field(default=None, init=False)

    def start(self) -> None:
        """Start the operator and wait until kopf reports it is alive."""
        url = f"http://127.0.0.1:{free_port()}/healthz"
        self._log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
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
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        proc = self._proc

        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"operator exited with {proc.returncode}:\n{self.logs()}")
            return _healthy(url)

        eventually(up, timeout=60, what="operator liveness")

    def stop(self) -> None:
        """SIGTERM, then wait for kopf's graceful exit."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def logs(self) -> str:
        """Everything the operator printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

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
