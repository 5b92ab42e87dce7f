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
echo "== compiled core" && python -c 'from approval_monitor.compiled_core import main; main()'
echo "== pytest" && pytest "$@"
# The same source uncompiled must judge alike: the contract's examples, the engine's and the replay's tests again.
if [ $# -eq 0 ]; then
  echo "== pytest, pure-Python engine" && APPROVAL_MONITOR_COMPILED_CORE=0 pytest -q tests/rooms/rules \
    tests/rooms/approval_monitor/test_examples.py tests/rooms/approval_monitor/test_replay_job.py \
    tests/rooms/approval_monitor/test_event_sort.py tests/rooms/approval_monitor/test_compiled_core.py
fi
