#!/usr/bin/env bash
# Builds cheiron's operator image without a Docker engine, as the Dockerfile would: Debian
# bookworm with python3 and skopeo, the locked environment of uv.lock without the test group
# in /app/.venv, cheiron installed into it, user 65532:65532, entrypoint `cheiron`.
#   hack/image/build.sh [OUT.tar]    (root: mmdebstrap and chroot; default .tools/image/cheiron.tar)
# Writes an OCI archive whose one tag is `dev` (ctr images import --base-name NAME). Two
# layers: the base (Debian and the dependencies), rebuilt only when uv.lock, pyproject.toml
# or this script change, and cheiron itself, rebuilt every time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=$root/.tools/image
out=${1:-$cache/cheiron.tar}
uv=$root/.tools/bin/uv
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
tag=dev

[ "$(id -u)" = 0 ] || { echo "image: needs root (mmdebstrap, chroot)" >&2; exit 1; }
[ -x "$uv" ] || { echo "image: $uv missing: run make bootstrap" >&2; exit 1; }
missing=()
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v umoci >/dev/null || missing+=(umoci)
[ ${#missing[@]} = 0 ] || bash "$root/hack/apt-install.sh" image "${missing[@]}"

work=$(mktemp -d "${TMPDIR:-/tmp}/cheiron-image-XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$cache"

# What uv does inside the image's root: the image's own python3, nothing downloaded but
# packages, byte code compiled now (the root file system is read-only at run time).
# Downloads trust what this host trusts (a proxy's CA, say), for the build only: the image
# keeps Debian's own CA store.
host_ca=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
uv_env=(env SSL_CERT_FILE=/tmp/host-ca.pem UV_PROJECT_ENVIRONMENT=/app/.venv UV_PYTHON=/usr/bin/python3
  UV_PYTHON_DOWNLOADS=never UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_CACHE_DIR=/tmp/uv-cache
  UV_NO_PROGRESS=1)

key=$(cat "$root/uv.lock" "$root/pyproject.toml" "$here/build.sh" | sha256sum | cut -c1-16)
base=$cache/base-$key
if [ ! -d "$base" ]; then
  echo "image: building the base (Debian bookworm, skopeo, the locked dependencies)" >&2
  mkdir "$work/src"
  cp "$root/pyproject.toml" "$root/uv.lock" "$root/README.md" "$work/src/"
  # --no-dev alone would still install the test group (tool.uv default-groups).
  mmdebstrap --quiet --variant=minbase --include=python3,skopeo,ca-certificates \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook="copy-in $uv /usr/local/bin" \
    --customize-hook="upload $host_ca /tmp/host-ca.pem" \
    --customize-hook='mkdir -p "$1/src"' --customize-hook="sync-in $work/src /src" \
    --customize-hook="chroot \"\$1\" sh -c 'cd /src && ${uv_env[*]} uv sync --frozen --no-dev --no-default-groups --no-install-project'" \
    --customize-hook='rm -rf "$1/src" "$1/usr/local/bin/uv" "$1/tmp/uv-cache" "$1/tmp/host-ca.pem" "$1/var/lib/apt/lists"/*' \
    bookworm "$work/base.tar" "$mirror"
  umoci init --layout "$work/base"
  umoci new --image "$work/base:$tag"
  umoci unpack --image "$work/base:$tag" "$work/bundle"
  tar -xpf "$work/base.tar" -C "$work/bundle/rootfs" --numeric-owner
  umoci repack --image "$work/base:$tag" "$work/bundle"
  rm -rf "$work/bundle" "$work/base.tar"
  rm -rf "$cache"/base-*
  mv "$work/base" "$base"
fi

echo "image: adding cheiron to the base" >&2
"$uv" build --quiet --wheel --out-dir "$work/dist" "$root"
cp -a "$base" "$work/image"
umoci unpack --image "$work/image:$tag" "$work/bundle"
rootfs=$work/bundle/rootfs
cp "$uv" "$rootfs/usr/local/bin/uv"
cp "$work"/dist/*.whl "$rootfs/tmp/"
chroot "$rootfs" sh -c "${uv_env[*]} uv pip install --quiet --offline --no-deps --python /app/.venv/bin/python /tmp/*.whl"
rm -rf "$rootfs/usr/local/bin/uv" "$rootfs"/tmp/*.whl "$rootfs/tmp/uv-cache"
umoci repack --image "$work/image:$tag" "$work/bundle"
# The Dockerfile's USER, ENV, EXPOSE, ENTRYPOINT and CMD (tests/e2e/test_installed.py compares).
umoci config --image "$work/image:$tag" \
  --config.user 65532:65532 \
  --config.env PATH=/app/.venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --config.env PYTHONUNBUFFERED=1 --config.env PYTHONDONTWRITEBYTECODE=1 \
  --config.exposedports 9090/tcp --config.exposedports 9443/tcp \
  --config.entrypoint cheiron \
  --config.cmd run --config.cmd --all-namespaces --config.cmd --metrics-port --config.cmd 9090 \
  --history.created_by "hack/image/build.sh"
umoci gc --layout "$work/image"
tar -C "$work/image" -cf "$out.partial" .
mv "$out.partial" "$out"
echo "$out"
