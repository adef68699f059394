"""The Python side names the same Kubernetes and etcd versions that the Go build pins."""

import re
from pathlib import Path

from cheiron.devcluster import ETCD_VERSION, KUBERNETES_VERSION
from cheiron.devcluster.versions import default_bin_dir

GO_MOD = Path(__file__).parents[3] / "hack" / "controlplane" / "go.mod"


def _required(module: str) -> str:
    match = re.search(rf"^\s+{re.escape(module)} (v\S+)$", GO_MOD.read_text(), re.MULTILINE)
    assert match, f"{module} is not required in {GO_MOD}"
    return match.group(1)


def test_kubernetes_version_matches_go_mod() -> None:
    assert _required("k8s.io/kubernetes") == KUBERNETES_VERSION


def test_etcd_version_matches_go_mod() -> None:
    assert _required("go.etcd.io/etcd/server/v3") == ETCD_VERSION


def test_every_staging_module_is_replaced_at_the_matching_tag() -> None:
    staging_tag = "v0." + KUBERNETES_VERSION.removeprefix("v1.")
    replaces = re.findall(r"^\s+(k8s\.io/\S+) => (k8s\.io/\S+) (v\S+)$", GO_MOD.read_text(), re.M)
    assert len(replaces) >= 30
    for source, target, tag in replaces:
        assert source == target
        assert tag == staging_tag, f"{source} replaced at {tag}, expected {staging_tag}"


def test_bin_dir_is_keyed_by_both_versions() -> None:
    path = default_bin_dir()
    assert KUBERNETES_VERSION in path.name
    assert ETCD_VERSION in path.name
