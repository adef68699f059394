#!/usr/bin/env bash
# Installs Debian's prometheus package for the monitoring tests, only when promtool or
# prometheus is missing: `promtool test rules` checks the alerts, and the integration tests
# start their own prometheus on a loopback port. The package's own service is never started
# (a policy-rc.d refuses it while apt runs): it would listen on every address.
set -euo pipefail

command -v promtool >/dev/null && command -v prometheus >/dev/null && exit 0

sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
policy=/usr/sbin/policy-rc.d
placed=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
  placed=1
fi
cleanup() { [ -z "$placed" ] || $sudo rm -f "$policy"; }
trap cleanup EXIT

bash "$(dirname "${BASH_SOURCE[0]}")/../apt-install.sh" monitoring-tools prometheus
# Some init systems start it anyway; the tests' prometheus is the only one wanted.
$sudo pkill -x prometheus 2>/dev/null || true
command -v promtool >/dev/null && command -v prometheus >/dev/null || {
  echo "monitoring-tools: promtool or prometheus still missing after apt-get install" >&2
  exit 1
}
