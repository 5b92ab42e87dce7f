"""Which engine a benchmark's processes judge with, printed with its figures.

The worker, sink and replay processes a benchmark starts engage the compiled
core exactly as the benchmark itself does (``approval_monitor.compiled_core``:
the same sources, the same build, the same environment), so its answer is theirs.
A figure measured on a stale build is a pure-Python figure, and must say so.
"""

from __future__ import annotations

import approval_monitor


def engine() -> str:
    if approval_monitor.COMPILED_CORE:
        return "compiled core"
    return (
        "pure Python (the compiled core is stale, missing or turned off; build it with "
        "`.venv/bin/python -c 'from approval_monitor.compiled_core import main; main()'`)"
    )
