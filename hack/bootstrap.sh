#!/usr/bin/env bash
# Installs what `make` needs on a fresh machine: Python >= 3.11 with venv, and uv (from PyPI)
# in .tools/. Debian packages are installed only when something is missing.
set -euo pipefail
uv_version=${1:?usage: bootstrap.sh UV_VERSION}
cd "$(dirname "${BASH_SOURCE[0]}")/.."

apt_install() {
  if ! command -v apt-get >/dev/null; then
    echo "bootstrap: need $*, and there is no apt-get to install it" >&2
    exit 1
  fi
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

python_ok() {
  command -v python3 >/dev/null &&
    python3 -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}
if ! python_ok; then
  apt_install python3 python3-venv python3-pip
  python_ok || { echo "bootstrap: python3 >= 3.11 with venv is required" >&2; exit 1; }
fi

if [ ! -x .tools/bin/uv ] || [ "$(.tools/bin/uv --version | cut -d' ' -f2)" != "$uv_version" ]; then
  python3 -m venv .tools
  .tools/bin/python -m pip install --quiet --disable-pip-version-check "uv==$uv_version"
fi
.tools/bin/uv --version
