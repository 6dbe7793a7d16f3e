#!/usr/bin/env bash
# Bring up a local fleet (a parent and two child clusters on loopback) and run the main job on it.
#   scripts/demo.sh            # leaves the fleet running; stop it with: .venv/bin/kubectl-clusternet local down
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ensure_system_packages
ensure_venv "."
kc=.venv/bin/kubectl-clusternet
$kc local binaries
$kc local up
parent=$($kc local status --kubeconfig-path parent)
echo
echo "\$ kubectl clusternet get mcls -A"
$kc --kubeconfig "$parent" get mcls -A
echo
echo "\$ kubectl clusternet get clusternet -A"
$kc --kubeconfig "$parent" get clusternet -A
echo
echo "\$ kubectl get crd   # the Clusternet CRDs, seen by the real kubectl"
kubectl --kubeconfig "$parent" get crd
echo
echo "The fleet keeps running. Stop it with: $kc local down"
