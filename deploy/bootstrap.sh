#!/usr/bin/env bash
# Installs the project into .venv on a fresh machine: `deploy/bootstrap.sh run` only what running needs,
# `deploy/bootstrap.sh dev` (the default) the test tools too. Later calls reuse .venv while pyproject.toml is
# unchanged. Needs only python3 >= 3.11.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-dev}
PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "approval-monitor needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
  exit 1
}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
hash=$(sha256sum pyproject.toml | cut -c1-16)
# The test tools include everything running needs: a dev install serves `run` too.
if [ -f ".venv/.installed-dev-$hash" ] || { [ "$mode" = run ] && [ -f ".venv/.installed-run-$hash" ]; }; then
  exit 0
fi
echo "installing approval-monitor ($mode) into .venv ..." >&2
.venv/bin/python -m pip install -q --upgrade pip
if [ "$mode" = run ]; then
  .venv/bin/python -m pip install -q -e ".[core]"
else
  .venv/bin/python -m pip install -q -e ".[dev,core]"
fi
rm -f .venv/.installed-*
touch ".venv/.installed-$mode-$hash"
