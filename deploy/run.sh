#!/usr/bin/env bash
# The main job on the embedded default: no servers to install.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/bootstrap.sh run
# The engine compiled from its own source (about a minute, once per change of the sources); without a C
# compiler the same modules run as they are, slower.
.venv/bin/python -c 'from approval_monitor.compiled_core import main; main()' ||
  echo "approval-monitor: the compiled core was not built (see above); running on pure Python" >&2
exec .venv/bin/approval-monitor run "$@"
