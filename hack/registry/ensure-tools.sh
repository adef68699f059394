#!/usr/bin/env bash
# Installs the registry test tools from Debian packages, only those that are missing:
# docker-registry (the Distribution registry that tests start on loopback ports) and skopeo
# (the copy tool the image-backup tests push and copy with). Safe to run on every `make test`.
set -euo pipefail

missing=()
[ -x /usr/bin/docker-registry ] || missing+=(docker-registry)
command -v skopeo >/dev/null || missing+=(skopeo)
[ ${#missing[@]} -eq 0 ] && exit 0

bash "$(dirname "${BASH_SOURCE[0]}")/../apt-install.sh" registry-tools "${missing[@]}"
[ -x /usr/bin/docker-registry ] && command -v skopeo >/dev/null || {
  echo "registry-tools: ${missing[*]} still missing after apt-get install" >&2
  exit 1
}
