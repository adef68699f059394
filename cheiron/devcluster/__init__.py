"""A real local control plane (etcd, kube-apiserver, kube-controller-manager) on loopback."""

from cheiron.devcluster.cluster import ControlPlane, ControlPlaneError
from cheiron.devcluster.versions import ETCD_VERSION, KUBERNETES_VERSION, default_bin_dir

__all__ = [
    "ETCD_VERSION",
    "KUBERNETES_VERSION",
    "ControlPlane",
    "ControlPlaneError",
    "default_bin_dir",
]
