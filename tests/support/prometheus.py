"""Runs a real Prometheus (Debian's) on a loopback port for tests, scraping given targets."""

import json
import shutil
import subprocess
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from cheiron.devcluster.cluster import _die_with_parent, free_port
from tests.support.poll import eventually
from tests.support.process import Background


class Prometheus(Background):
    """A throwaway Prometheus scraping `targets` every second as `job`; a context manager.

    `rules` are rule groups it evaluates every second (the alerts as shipped).
    """

    stop_timeout = 10.0

    def __init__(self, job: str, targets: list[str], rules: dict[str, Any] | None = None) -> None:
        self.job = job
        self.targets = targets
        self.rules = rules
        self.port = 0
        self._dir: Path | None = None

    @property
    def url(self) -> str:
        """The base URL of its HTTP API."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start it; returns once it is ready to answer queries."""
        binary = shutil.which("prometheus")
        if binary is None:
            raise RuntimeError("prometheus is missing: `make monitoring-tools` installs it")
        self._dir = Path(tempfile.mkdtemp(prefix="cheiron-prometheus-"))
        self.log_path = self._dir / "prometheus.log"
        config: dict[str, Any] = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {"job_name": self.job, "static_configs": [{"targets": self.targets}]}
            ],
        }
        if self.rules is not None:
            (self._dir / "rules.yaml").write_text(yaml.safe_dump(self.rules))
            config["rule_files"] = [str(self._dir / "rules.yaml")]
        (self._dir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.port = free_port()
        self.launch(
            [
                binary,
                f"--config.file={self._dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self._dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                # Debian's console templates are not needed; keep it from reading /etc.
                f"--web.console.templates={self._dir}",
                f"--web.console.libraries={self._dir}",
            ],
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,  # safe here: no threads start before exec
        )
        eventually(self._ready, timeout=30, what=f"prometheus on {self.url}")

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:  # noqa: S310 - loopback
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the process and remove its data."""
        super().stop()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector (each item: `metric` labels and `value`)."""
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
            answer = json.loads(response.read())
        if answer.get("status") != "success":
            raise AssertionError(f"{expr}: {answer}")
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result
