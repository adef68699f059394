"""Finds kubectl and helm for tests, building them (cached, outside the repo) when missing."""

import functools
import subprocess
from pathlib import Path

from cheiron.devcluster import default_bin_dir

ROOT = Path(__file__).parents[2]
ENSURE_GO = ROOT / "hack" / "controlplane" / "ensure-go.sh"


def _build(script: Path) -> Path:
    """Run a hack/ build script under a new enough Go; it prints its result on its last line."""
    done = subprocess.run(
        ["bash", str(ENSURE_GO), "bash", str(script)],  # noqa: S607 - bash from PATH, as make
        check=False,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{script} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


@functools.cache
def kubectl() -> Path:
    """The pinned control plane's kubectl (hack/controlplane/build.sh builds it if missing)."""
    path = default_bin_dir() / "kubectl"
    if not path.exists():
        path = _build(ROOT / "hack" / "controlplane" / "build.sh") / "kubectl"
    return path


@functools.cache
def helm() -> Path:
    """The pinned helm (hack/helm/build.sh; a no-op when it is built already)."""
    return _build(ROOT / "hack" / "helm" / "build.sh")
