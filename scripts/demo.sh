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
echo
echo "waiting for both children to report the Subscription deployed…"
for _ in $(seq 1 90); do
  ok=$($kc --kubeconfig "$parent" get desc -A --no-headers 2>/dev/null | grep -c ' Success ' || true)
  [ "$ok" -ge 2 ] && break
  sleep 2
done
show get desc -A
# Through the parent, as from a laptop with no route to the children: child mode runs kubectl on the hub's proxy.
show --cluster child-1 --child-kubeconfig "$($kc local status --kubeconfig-path child-1)" get ns
for child in child-1 child-2; do
  show --cluster "$child" --child-kubeconfig "$($kc local status --kubeconfig-path $child)" get deploy,svc -n foo
done
echo
echo "The fleet keeps running. Stop it with: $kc local down"
