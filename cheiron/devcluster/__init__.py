"""A local cluster on loopback: the control plane, and optionally one real node beside it."""

from cheiron.devcluster.cluster import (
    DEFAULT_CONTROLLERS,
    NODE_CONTROLLERS,
    ControlPlane,
    ControlPlaneError,
)
from cheiron.devcluster.node import Node, NodeError, plane_for_node
from cheiron.devcluster.versions import ETCD_VERSION, KUBERNETES_VERSION, default_bin_dir

__all__ = [
    "DEFAULT_CONTROLLERS",
    "ETCD_VERSION",
    "KUBERNETES_VERSION",
    "NODE_CONTROLLERS",
    "ControlPlane",
    "ControlPlaneError",
    "Node",
    "NodeError",
    "default_bin_dir",
    "plane_for_node",
]
