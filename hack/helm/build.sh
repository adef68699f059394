#!/usr/bin/env bash
# Builds helm from the Go module pinned in hack/helm/go.mod into a per-version cache outside
# the repository; does nothing when it is already there. Prints the binary's path on its last
# line.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
helm_version=$(awk '$1 == "helm.sh/helm/v3" && $2 ~ /^v/ {print $2; exit}' "$here/go.mod")
cache_root=${CHEIRON_HELM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cheiron/helm}
out="$cache_root/$helm_version"

if [ -x "$out/helm" ]; then
  echo "helm ${helm_version} already built" >&2
  echo "$out/helm"
  exit 0
fi

command -v go >/dev/null || { echo "build.sh: go is not on PATH" >&2; exit 1; }
cd "$here"
# helm's go.mod may ask for a newer Go than the control plane's; a go >= 1.21 fetches that
# toolchain through the module proxy instead of refusing to build.
export GOTOOLCHAIN=auto CGO_ENABLED=0 GOFLAGS=-mod=mod

# As helm's own Makefile does: without these `helm version` says v3-dev and templates see
# the library default Kubernetes version (.Capabilities.KubeVersion) instead of client-go's.
client_go=$(go list -m -f '{{.Version}}' k8s.io/client-go)   # v0.MINOR.PATCH -> 1.MINOR
k8s_minor=$(echo "$client_go" | cut -d. -f2)
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=${helm_version}"
ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  ldflags+=" -X ${pkg}.k8sVersionMajor=1 -X ${pkg}.k8sVersionMinor=${k8s_minor}"
done

tmp="$out.partial.$$"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"
start=$(date +%s)
echo "building helm ${helm_version} into $out" >&2
go build -trimpath -ldflags "$ldflags" -o "$tmp/helm" helm.sh/helm/v3/cmd/helm
# Publish atomically so an interrupted build never looks complete.
rm -rf "$out"
mkdir -p "$(dirname "$out")"
mv "$tmp" "$out"
trap - EXIT
echo "built in $(( $(date +%s) - start ))s: $(du -sh "$out/helm" | cut -f1)" >&2
echo "$out/helm"
