#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager and kubectl, and the node's kubelet,
# kube-scheduler and kube-proxy, from the pinned Go modules into a per-version cache outside
# the repository; builds only the binaries that are missing there.
# Prints the directory holding the binaries on its last line.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
k8s_version=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$here/go.mod")
etcd_version=$(awk '$1 == "go.etcd.io/etcd/server/v3" && $2 ~ /^v/ {print $2; exit}' "$here/go.mod")
cache_root=${CHEIRON_CONTROLPLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cheiron/controlplane}
out="$cache_root/${k8s_version}-etcd${etcd_version}"
binaries=(etcd kube-apiserver kube-controller-manager kubectl kubelet kube-scheduler kube-proxy)

missing=()
for b in "${binaries[@]}"; do [ -x "$out/$b" ] || missing+=("$b"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "control plane ${k8s_version} (etcd ${etcd_version}) already built" >&2
  echo "$out"
  exit 0
fi

command -v go >/dev/null || { echo "build.sh: go is not on PATH" >&2; exit 1; }

minor=${k8s_version#v1.}; minor=${minor%%.*}
# Without these /version reports v0.0.0 and clients warn about version skew.
pkg_ldflags() {
  local p=$1
  printf -- '-X %s.gitVersion=%s -X %s.gitMajor=1 -X %s.gitMinor=%s -X %s.gitTreeState=clean ' \
    "$p" "$k8s_version" "$p" "$p" "$minor" "$p"
}
ldflags="-s -w $(pkg_ldflags k8s.io/component-base/version)$(pkg_ldflags k8s.io/client-go/pkg/version)"

tmp="$out.partial.$$"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp" "$out"
start=$(date +%s)
cd "$here"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
echo "building ${missing[*]} (${k8s_version}, etcd ${etcd_version}) into $out" >&2
for b in "${missing[@]}"; do
  case $b in
    etcd) go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3 ;;
    *) go build -trimpath -ldflags "$ldflags" -o "$tmp/$b" "k8s.io/kubernetes/cmd/$b" ;;
  esac
  # Published one by one, atomically: an interrupted build never leaves a half-written binary.
  mv "$tmp/$b" "$out/$b"
done
echo "built in $(( $(date +%s) - start ))s: $(du -sh "$out" | cut -f1)" >&2
echo "$out"
