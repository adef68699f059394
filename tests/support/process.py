"""A background process for tests: output to a log file, SIGTERM then SIGKILL on stop."""

import subprocess
import urllib.request
from pathlib import Path
from typing import IO, Any, ClassVar

from cheiron.devcluster.cluster import Started


def answers(url: str) -> bool:
    """Whether a loopback HTTP endpoint answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback http
            return bool(response.status == 200)
    except OSError:
        return False


class Background(Started):
    """A mixin: subclasses have `log_path` and implement start() with launch()."""

    log_path: Path
    stop_timeout: ClassVar[float] = 30.0
    _proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    def launch(
        self,
        argv: list[str],
        env: dict[str, str] | None = None,
        *,
        fresh_log: bool = False,
        **popen: Any,
    ) -> subprocess.Popen[bytes]:
        """Run `argv` with stdout and stderr appended to (or, fresh, written over) the log."""
        if self._log is not None:
            self._log.close()  # a relaunch after a failed attempt
        self._log = self.log_path.open("wb" if fresh_log else "ab")
        self._proc = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, env=env, **popen
        )
        return self._proc

    def stop(self) -> None:
        """SIGTERM, a graceful wait, then SIGKILL."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    @property
    def pid(self) -> int | None:
        """The running process's id (None before start and after stop)."""
        return None if self._proc is None else self._proc.pid

    def exit_code(self) -> int | None:
        """The process's exit code once it exited on its own; None while it runs."""
        return None if self._proc is None else self._proc.poll()

    def logs(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
