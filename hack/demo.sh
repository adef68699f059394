#!/usr/bin/env bash
# `make demo`: starts the local control plane and shows it working, then stops it.
# Set DEMO_KEEP=1 to keep it running until Ctrl-C, with the kubeconfig path printed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bin_dir=$(bash hack/controlplane/build.sh 2>/dev/null | tail -n1)
kubectl="$bin_dir/kubectl"
work=$(mktemp -d -t cheiron-demo-XXXXXX)
kubeconfig="$work/kubeconfig"
fifo="$work/out"; mkfifo "$fifo"

cleanup() {
  if [ -n "${cluster_pid:-}" ] && kill -0 "$cluster_pid" 2>/dev/null; then
    kill -TERM "$cluster_pid"; wait "$cluster_pid" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "starting etcd, kube-apiserver and kube-controller-manager on loopback"
start=$(date +%s%N)
cheiron dev-cluster --kubeconfig "$kubeconfig" >"$fifo" &
cluster_pid=$!
read -r ready _ <"$fifo" || true
[ "$ready" = READY ] || { echo "the control plane did not start" >&2; exit 1; }
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
printf 'ready in %d.%03ds, kubeconfig %s\n' $((elapsed_ms / 1000)) $((elapsed_ms % 1000)) "$kubeconfig"

k() { echo "\$ kubectl $*"; "$kubectl" --kubeconfig "$kubeconfig" "$@"; }

step "the apiserver is a real one"
k version
step "namespaces"
k get namespaces
step "a new namespace gets its default ServiceAccount from the controller manager"
k create namespace demo
for _ in $(seq 100); do "$kubectl" --kubeconfig "$kubeconfig" -n demo get sa default >/dev/null 2>&1 && break; sleep 0.1; done
k -n demo get serviceaccounts

if [ "${DEMO_KEEP:-}" = 1 ]; then
  step "running; export KUBECONFIG=$kubeconfig, Ctrl-C to stop"
  wait "$cluster_pid"
fi
step "stopping"
