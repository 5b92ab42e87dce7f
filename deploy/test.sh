#!/usr/bin/env bash
# The whole test suite, as CI runs it: install, format and lint checks, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/bootstrap.sh dev
export PATH="$PWD/.venv/bin:$PATH"
CHROMIUM=$(deploy/test-tools.sh)
export CHROMIUM
echo "== ruff format --check" && ruff format --check .
echo "== ruff check" && ruff check .
echo "== mypy (strict: rules/, and the rest)" && mypy rules/ store/ streams/ api/ approval_monitor/
echo "== pytest" && pytest "$@"
