# Shared by scripts/demo.sh and scripts/test.sh: make a fresh Debian-like machine able to run the project.
# Sourced, not executed.

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "error: '$*' needs root (or sudo)" >&2; return 1; fi
}

apt_updated=""
apt_install() {
  command -v apt-get >/dev/null || { echo "error: missing $*, and this is not a Debian-like machine (no apt-get)" >&2; return 1; }
  if [ -z "$apt_updated" ]; then as_root apt-get update -q >/dev/null; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q "$@" >/dev/null
}

ensure_system_packages() {
  local missing=()
  python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
  command -v kubectl >/dev/null || missing+=(kubernetes-client)
  command -v etcd >/dev/null || missing+=(etcd-server)
  command -v openssl >/dev/null || missing+=(openssl)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "[setup] installing ${missing[*]}" >&2
    apt_install "${missing[@]}"
  fi
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' || {
    echo "error: Python 3.10 or newer is needed (python3 is $(python3 --version 2>&1))" >&2; return 1; }
}

# ensure_venv SPEC: a virtualenv in .venv with the project installed as SPEC (for example ".[test]").
ensure_venv() {
  local spec=$1
  if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv" >&2
    python3 -m venv .venv
  fi
  local stamp=".venv/.installed-$(echo "$spec" | tr -c 'a-z' '_')"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "[setup] installing kubectl-clusternet ($spec) into .venv" >&2
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    .venv/bin/python -m pip install -q -e "$spec"
    touch "$stamp"
  fi
}
