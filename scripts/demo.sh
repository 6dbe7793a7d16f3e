#!/usr/bin/env bash
# Bring up a local fleet (a parent and two child clusters on loopback, the hub, one agent per child) and run the
# main job on it.
#   scripts/demo.sh            # leaves the fleet running; stop it with: .venv/bin/kubectl-clusternet local down
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ensure_system_packages
ensure_venv "."
kc=.venv/bin/kubectl-clusternet
show() { echo; echo "\$ kubectl clusternet $*"; $kc --kubeconfig "$parent" "$@"; }

$kc local binaries
$kc local up
parent=$($kc local status --kubeconfig-path parent)
show get mcls -A
show get clsrr
show get bootstrap-tokens
show apply -f examples/applications/
show get subs,manifests -A
echo
echo "The fleet keeps running. Stop it with: $kc local down"
