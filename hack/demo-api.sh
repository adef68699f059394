#!/usr/bin/env bash
# `make demo-api`: a local control plane, cheiron's CRDs, the operator, the samples applied, and
# the ServiceAccounts printed with the pull secrets cheiron attached. Then everything stops.
# Set DEMO_KEEP=1 to keep it all running until Ctrl-C.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bin_dir=$(bash hack/controlplane/build.sh 2>/dev/null | tail -n1)
work=$(mktemp -d -t cheiron-demo-XXXXXX)
kubeconfig="$work/kubeconfig"
fifo="$work/out"; mkfifo "$fifo"
pids=()

cleanup() {
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    if kill -0 "${pids[i]}" 2>/dev/null; then kill -TERM "${pids[i]}"; wait "${pids[i]}" || true; fi
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
k() { echo "\$ kubectl $*"; "$bin_dir/kubectl" --kubeconfig "$kubeconfig" "$@"; }
kq() { "$bin_dir/kubectl" --kubeconfig "$kubeconfig" "$@"; }
wait_for() {  # wait_for DESCRIPTION COMMAND...: poll up to 30 s
  local what=$1; shift
  for _ in $(seq 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "timed out waiting for $what" >&2; return 1
}

step "starting etcd, kube-apiserver and kube-controller-manager on loopback"
start=$(date +%s%N)
cheiron dev-cluster --kubeconfig "$kubeconfig" >"$fifo" &
pids+=($!)
read -r ready _ <"$fifo" || true
[ "$ready" = READY ] || { echo "the control plane did not start" >&2; exit 1; }
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
printf 'ready in %d.%03ds\n' $((elapsed_ms / 1000)) $((elapsed_ms % 1000))
k version
k get namespaces

step "installing cheiron's CRDs (generated from the pydantic models)"
k apply -k config/crd
wait_for "CRDs" kq wait --for condition=established --timeout=30s crd --all

step "running the operator: cheiron run --all-namespaces (log: $work/operator.log)"
# --verify-listed-only: the samples name public registries, which a demo must not contact.
cheiron run --kubeconfig "$kubeconfig" --all-namespaces --verify-listed-only >"$work/operator.log" 2>&1 &
pids+=($!)

step "the Secrets the samples refer to"
k create namespace demo
k create namespace cheiron-system
k -n demo create secret docker-registry gitlab-registry \
  --docker-server=registry.gitlab.com --docker-username=demo --docker-password=demo-token
k -n demo create secret generic ghcr-credentials \
  --from-literal=username=demo --from-literal=password=demo-token
k -n cheiron-system create secret docker-registry hub-credentials \
  --docker-server=https://index.docker.io/v1/ --docker-username=demo --docker-password=demo-token
k -n demo create serviceaccount app

step "applying samples/"
k -n demo apply -f samples/imagepullsecretmanager-original.yaml \
  -f samples/imagepullsecretmanager-credentials-ref.yaml
k apply -f samples/clusterimagepullsecretmanager.yaml

wait_for "the app ServiceAccount's pull secrets" \
  bash -c "[ \"\$('$bin_dir/kubectl' --kubeconfig '$kubeconfig' -n demo get sa app -o jsonpath='{.imagePullSecrets[*].name}' | wc -w)\" -ge 5 ]"
step "a namespace created now is served at once"
k create namespace late-arrival
wait_for "late-arrival" \
  bash -c "'$bin_dir/kubectl' --kubeconfig '$kubeconfig' -n late-arrival get sa default -o jsonpath='{.imagePullSecrets[*].name}' | grep -q hub-pull"

step "the managers (the original sample reports its <my-registry> placeholder)"
k -n demo get imagepullsecretmanagers
k get clusterimagepullsecretmanagers
k -n demo get ipsm my-registry -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}'

step "ServiceAccounts and their pull secrets"
k get serviceaccounts -A -o custom-columns='NAMESPACE:.metadata.namespace,NAME:.metadata.name,PULL SECRETS:.imagePullSecrets[*].name,RECONCILED:.metadata.annotations.cheiron\.anny\.co/reconciled'

step "pull Secrets cheiron manages"
k get secrets -A -l app.kubernetes.io/managed-by=cheiron

if [ "${DEMO_KEEP:-}" = 1 ]; then
  step "running; export KUBECONFIG=$kubeconfig, Ctrl-C to stop"
  wait "${pids[0]}"
fi
step "stopping"
