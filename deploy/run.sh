#!/usr/bin/env bash
# The main job on the embedded default: no servers to install.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/bootstrap.sh run
exec .venv/bin/approval-monitor run "$@"
