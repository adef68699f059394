#!/usr/bin/env bash
# Installs Debian packages for one of the ensure-tools scripts: apt-install.sh WHO PKG...
# --no-install-recommends: recommends pull whole stacks (containers-common brings netavark).
set -euo pipefail
who=$1; shift
if ! command -v apt-get >/dev/null; then
  echo "$who: need $*, and there is no apt-get to install it" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
echo "$who: installing $*" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
