#!/usr/bin/env bash
# Build kube-apiserver and kube-controller-manager from Debian's `kubernetes` source package.
# Usage: build_k8s.sh CACHE_DIR   -> binaries in CACHE_DIR/bin
# Needs a Debian-like host (apt-get). Installs golang-1.19-go, etcd-server and rsync when missing
# (through sudo when not run as root). Concurrent callers wait on a lock and build only once.
set -euo pipefail
cache=${1:?usage: build_k8s.sh CACHE_DIR}
mkdir -p "$cache/src" "$cache/bin"
say() { printf '[build] %s\n' "$*"; }
binaries=(kube-apiserver kube-controller-manager)
# Names what went into the binaries; bin/.recipe must match it or they are rebuilt. binaries.py reads
# this line too, so binaries from an older recipe are never used.
recipe=1.20.2+reflect2-1.0.2+openapi-null-check
reflect2_src=/usr/share/gocode/src/github.com/modern-go/reflect2

built() {
  local b
  for b in "${binaries[@]}"; do [ -x "$cache/bin/$b" ] || return 1; done
  [ "$(cat "$cache/bin/.recipe" 2>/dev/null)" = "$recipe" ]
}

exec 9>"$cache/.build.lock"
if ! flock -n 9; then
  say "another build is running in $cache; waiting for it"
  flock 9
fi
if built; then
  say "already built: $cache/bin"
  exit 0
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "build_k8s.sh: need root or sudo to install packages" >&2; exit 1; }
  SUDO=sudo
fi

need_pkgs=()
[ -x /usr/lib/go-1.19/bin/go ] || need_pkgs+=(golang-1.19-go)
command -v etcd >/dev/null || need_pkgs+=(etcd-server)
command -v rsync >/dev/null || need_pkgs+=(rsync)
[ -e "$reflect2_src/go_above_118.go" ] || need_pkgs+=(golang-github-modern-go-reflect2-dev)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  say "installing ${need_pkgs[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_pkgs[@]}" >/dev/null
fi

cd "$cache/src"
if ! ls kubernetes_*.orig.tar.gz >/dev/null 2>&1; then
  if ! grep -rqs '^Types:.*deb-src\|^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    say "adding a deb-src entry for Debian's suites"
    $SUDO tee /etc/apt/sources.list.d/kubectl-clusternet-src.sources >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  $SUDO apt-get update -q >/dev/null
  say "downloading Debian's kubernetes source package"
  apt-get source --download-only kubernetes >/dev/null 2>&1
fi
orig=$(ls kubernetes_*.orig.tar.gz | head -n1)
if [ ! -d tree/cmd/kube-apiserver ]; then
  say "unpacking $orig"
  rm -rf tree && mkdir tree
  tar -xzf "$orig" -C tree --strip-components=1
fi
cd tree
# Kubernetes 1.20 vendors reflect2 1.0.1, whose map iteration segfaults when built with Go >= 1.18
# (kube-apiserver dies on the first custom resource it decodes). 1.0.2 fixes it and keeps the API.
vendored=vendor/github.com/modern-go/reflect2
if [ ! -e "$vendored/go_above_118.go" ]; then
  say "replacing the vendored reflect2 1.0.1 with Debian's 1.0.2 (1.0.1 crashes under Go 1.19)"
  rm -f "$vendored"/*.go "$vendored"/*.s
  cp "$reflect2_src"/*.go "$reflect2_src"/*.s "$vendored"/
fi
# The OpenAPI type validators (go-openapi and kube-openapi copies) decide "is this null?" by comparing two
# reflect.Value structs; with Go >= 1.18 that comparison is true for every zero value, so a CRD rejects ""
# in any string field ("must be of type string: null"). Only a real nil is null, as with the Go Kubernetes
# 1.20 was released with.
for validator in vendor/github.com/go-openapi/validate/type.go vendor/k8s.io/kube-openapi/pkg/validation/validate/type.go; do
  if grep -q 'data == nil || reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data))' "$validator" 2>/dev/null; then
    say "patching $validator: only nil is null (Go >= 1.18 made every zero value look null)"
    sed -i 's/data == nil || reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data))/data == nil/' "$validator"
  fi
done
mkdir -p .go/src/k8s.io
[ -e .go/src/k8s.io/kubernetes ] || ln -s ../../.. .go/src/k8s.io/kubernetes
cd .go/src/k8s.io/kubernetes
goarch=$(/usr/lib/go-1.19/bin/go env GOARCH)
say "compiling kube-apiserver and kube-controller-manager for linux/$goarch (about 9 minutes on 2 cores)"
GOPATH="$cache/src/tree/.go" GO111MODULE=off CGO_ENABLED=0 GOFLAGS= \
  PATH="/usr/lib/go-1.19/bin:$PATH" \
  make WHAT="cmd/kube-apiserver cmd/kube-controller-manager" KUBE_BUILD_PLATFORMS="linux/$goarch" 2>&1 \
  | sed -u 's/^/[make] /'
# Copy then rename so a concurrent lookup never sees a half-written binary.
for b in "${binaries[@]}"; do
  install -m 0755 "_output/bin/$b" "$cache/bin/.$b.tmp"
  mv -f "$cache/bin/.$b.tmp" "$cache/bin/$b"
done
printf '%s\n' "$recipe" > "$cache/bin/.recipe"
say "done: $cache/bin"
