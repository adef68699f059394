#!/usr/bin/env bash
# Installs what the local node (`cheiron dev-cluster --node`, the e2e tests) runs, from Debian's
# packages, only those that are missing: containerd and runc (the container runtime), the CNI
# plugins (bridge, host-local, loopback, portmap), busybox-static (the one binary of the pause
# image and the test images), iptables and iproute2 (the node's bridge and its network fence).
# Safe to run on every `make test`.
set -euo pipefail

declare -A probe=(
  [containerd]=/usr/bin/containerd
  [runc]=/usr/sbin/runc
  [containernetworking-plugins]=/usr/lib/cni/bridge
  [busybox-static]=/bin/busybox
  [iptables]=/usr/sbin/iptables
  [iproute2]=/usr/sbin/ip
)
missing=()
for pkg in "${!probe[@]}"; do
  [ -x "${probe[$pkg]}" ] && dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

bash "$(dirname "${BASH_SOURCE[0]}")/../apt-install.sh" node-tools "${missing[@]}"
for pkg in "${!probe[@]}"; do
  [ -x "${probe[$pkg]}" ] || { echo "node-tools: ${probe[$pkg]} ($pkg) still missing" >&2; exit 1; }
done
