#!/usr/bin/env bash
# Runs its arguments with a Go toolchain new enough for hack/controlplane/go.mod on PATH.
# Order of preference: the machine's go; the machine's go switching toolchains itself
# (GOTOOLCHAIN, go >= 1.21); Debian's go fetching the toolchain module through the module proxy.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
need=$(awk '$1 == "go" {print $2; exit}' "$here/go.mod")   # e.g. 1.24.0
fallback_toolchain=go1.25.14

version_of() { "$1" env GOVERSION 2>/dev/null | sed 's/^go//' || "$1" version | awk '{print $3}' | sed 's/^go//'; }
at_least() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

go_bin=$(command -v go || true)
if [ -z "$go_bin" ] && [ -x /usr/local/go/bin/go ]; then go_bin=/usr/local/go/bin/go; fi

if [ -n "$go_bin" ] && at_least "$(version_of "$go_bin")" "$need"; then
  PATH="$(dirname "$go_bin"):$PATH" exec "$@"
fi

if [ -n "$go_bin" ] && at_least "$(version_of "$go_bin")" 1.21; then
  export GOTOOLCHAIN="$fallback_toolchain"
  PATH="$(dirname "$go_bin"):$PATH" exec "$@"
fi

if [ -z "$go_bin" ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq golang-go >/dev/null
  go_bin=$(command -v go)
fi
# An old go cannot switch toolchains, but it can download the toolchain module itself.
module="golang.org/toolchain@v0.0.1-${fallback_toolchain}.linux-$("$go_bin" env GOARCH)"
dir=$(cd /tmp && GOFLAGS=-mod=mod "$go_bin" mod download -json "$module" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
chmod +x "$dir"/bin/* "$dir"/pkg/tool/*/* 2>/dev/null || true
export GOROOT="$dir"
PATH="$dir/bin:$PATH" exec "$@"
