"""What a local node may change on this host, read so that a test can compare before and after."""

import subprocess
from pathlib import Path

WATCHED_DIRS = (
    Path("/run"),
    Path("/var/lib/cni"),
    Path("/var/log/containers"),
    Path("/var/log/pods"),
    Path("/run/netns"),
)

# util-linux's own bookkeeping, made by the first mount or umount since boot, whoever ran it.
NOT_OURS = {Path("/run/mount")}


def _lines(*argv: str) -> list[str]:
    done = subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=30)
    return done.stdout.splitlines()


def host_state() -> dict[str, object]:
    """Interfaces, routes, firewall chains and rules, mounts, cgroups and run-time folders."""
    state: dict[str, object] = {
        "links": sorted(line.split()[0] for line in _lines("/usr/sbin/ip", "-br", "link")),
        "routes": sorted(_lines("/usr/sbin/ip", "-4", "route", "show")),
        "ip_forward": Path("/proc/sys/net/ipv4/ip_forward").read_text().strip(),
        "mounts": sorted(
            line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()
        ),
        "kubepods": sorted(str(p) for p in Path("/sys/fs/cgroup").glob("*/kubepods")),
    }
    for binary in ("iptables-save", "ip6tables-save"):
        # Rules and chains, without the packet counters that move on their own, and without
        # built-in chains at their default policy: the first use of iptables on a fresh
        # machine makes its tables, empty, and an empty table changes nothing.
        lines = (line.split(" [")[0] for line in _lines(f"/usr/sbin/{binary}"))
        state[binary] = sorted(
            line for line in lines if line[:1] in ":-" and not line.endswith(" ACCEPT")
        )
    for directory in WATCHED_DIRS:
        state[str(directory)] = (
            sorted(p.name for p in directory.iterdir() if p not in NOT_OURS)
            if directory.is_dir()
            else None
        )
    return state


def differences(before: dict[str, object], after: dict[str, object]) -> dict[str, object]:
    """The entries that changed, as (before, after)."""
    return {k: (before[k], after.get(k)) for k in before if before[k] != after.get(k)}
