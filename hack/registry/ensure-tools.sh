#!/usr/bin/env bash
# Installs the registry test tools from Debian packages, only those that are missing:
# docker-registry (the Distribution registry that tests start on loopback ports) and skopeo
# (the copy tool the image-backup tests push and copy with). Safe to run on every `make test`.
set -euo pipefail

missing=()
[ -x /usr/bin/docker-registry ] || missing+=(docker-registry)
command -v skopeo >/dev/null || missing+=(skopeo)
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
  echo "registry-tools: need ${missing[*]}, and there is no apt-get to install it" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
echo "registry-tools: installing ${missing[*]}" >&2
$sudo apt-get update -qq
# --no-install-recommends: containers-common would pull netavark, a container network stack
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" >/dev/null
[ -x /usr/bin/docker-registry ] && command -v skopeo >/dev/null || {
  echo "registry-tools: ${missing[*]} still missing after apt-get install" >&2
  exit 1
}
