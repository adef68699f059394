"""A memory cgroup of the tests' own (v1 or v2): a limit, its peak, and the OOM kills in it.

The tests run as root; the cgroup is made under the one this process is in, so it nests in
whatever limits the machine already has, and is removed afterwards.
"""

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")


def _own(hierarchy: str) -> Path:
    """The cgroup this process is in, in the v1 hierarchy named, or in v2 ('')."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _id, controllers, path = line.split(":", 2)
        if (hierarchy and hierarchy in controllers.split(",")) or (not hierarchy and _id == "0"):
            return Path(path.lstrip("/"))
    raise RuntimeError(f"this process is in no {hierarchy or 'v2'} cgroup")


@dataclass
class MemoryCgroup:
    """One memory cgroup: processes started with `enter` as their preexec_fn are held to it."""

    path: Path
    v2: bool

    def enter(self) -> None:
        """Move the calling process in (for Popen's preexec_fn: the child, before it execs)."""
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    @property
    def peak_bytes(self) -> int:
        """The most memory the processes in it used at once."""
        name = "memory.peak" if self.v2 else "memory.max_usage_in_bytes"
        return int((self.path / name).read_text())

    @property
    def oom_kills(self) -> int:
        """How many processes the kernel killed in it for want of memory."""
        name = "memory.events" if self.v2 else "memory.oom_control"
        for line in (self.path / name).read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def reset_peak(self) -> None:
        """Start measuring the peak anew (v1: write 0; v2 from 6.12: write anything)."""
        name = "memory.peak" if self.v2 else "memory.max_usage_in_bytes"
        with contextlib.suppress(OSError):
            (self.path / name).write_text("0")


@contextlib.contextmanager
def memory_cgroup(limit_bytes: int) -> Iterator[MemoryCgroup]:
    """A new memory cgroup with this hard limit (no swap beyond it), removed afterwards."""
    v2 = not (ROOT / "memory").is_dir()
    base = ROOT / _own("") if v2 else ROOT / "memory" / _own("memory")
    path = base / f"cheiron-test-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    try:
        if v2:
            (path / "memory.max").write_text(str(limit_bytes))
            with contextlib.suppress(OSError):
                (path / "memory.swap.max").write_text("0")
        else:
            (path / "memory.limit_in_bytes").write_text(str(limit_bytes))
            with contextlib.suppress(OSError):
                (path / "memory.memsw.limit_in_bytes").write_text(str(limit_bytes))
        yield MemoryCgroup(path, v2)
    finally:
        # Whatever is still inside goes back to the parent, so that the directory can go.
        with contextlib.suppress(OSError):
            for pid in (path / "cgroup.procs").read_text().split():
                with contextlib.suppress(OSError):
                    (base / "cgroup.procs").write_text(pid)
        with contextlib.suppress(OSError):
            path.rmdir()
