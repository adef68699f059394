"""Pinned control-plane versions and where hack/controlplane/build.sh caches their binaries."""

import os
from pathlib import Path

# Must match hack/controlplane/go.mod; tests/unit/devcluster/test_versions.py checks it.
KUBERNETES_VERSION = "v1.34.4"
ETCD_VERSION = "v3.6.4"

BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl")
# Built by the same script, run by `dev-cluster --node` (kube-proxy: Services for Pods).
NODE_BINARIES = ("kubelet", "kube-scheduler", "kube-proxy")


def cache_root() -> Path:
    """The folder that holds one subfolder of binaries per pinned version pair."""
    explicit = os.environ.get("CHEIRON_CONTROLPLANE_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "cheiron" / "controlplane"


def default_bin_dir() -> Path:
    """Where build.sh puts the binaries for the pinned versions."""
    explicit = os.environ.get("CHEIRON_CONTROLPLANE_BIN")
    if explicit:
        return Path(explicit)
    return cache_root() / f"{KUBERNETES_VERSION}-etcd{ETCD_VERSION}"
