"""Structured logs: every line one JSON object with time, level, logger and the call's extra fields."""

from __future__ import annotations

import json
import subprocess
import sys

from support import ROOT

SCRIPT = """
import logging, logging.config
from approval_monitor.logs import logging_config
logging.config.dictConfig(logging_config({fmt!r}, "info"))
log = logging.getLogger("approval_monitor.sink")
log.debug("not at info")
log.warning("store write of %d records failed", 3, extra={{"store": "sqlite", "attempt": 2}})
try:
    1 / 0
except ZeroDivisionError:
    log.exception("boom")
"""


def _run(fmt: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(fmt=fmt)], capture_output=True, text=True, cwd=ROOT,
                         timeout=60, check=True)  # fmt: skip
    return out.stdout.splitlines()


def test_json_lines_carry_level_logger_message_extras_and_tracebacks() -> None:
    lines = _run("json")
    first = json.loads(lines[0])
    assert first["level"] == "WARNING" and first["logger"] == "approval_monitor.sink"
    assert first["message"] == "store write of 3 records failed"
    assert first["store"] == "sqlite" and first["attempt"] == 2
    assert first["time"].startswith("20") and isinstance(first["pid"], int)
    second = json.loads(lines[1])
    assert "ZeroDivisionError" in second["exc_info"]
    assert len(lines) == 2  # the traceback is inside the object, and debug is below the level


def test_text_format_is_plain_lines() -> None:
    lines = _run("text")
    assert "[WARNING] approval_monitor.sink: store write of 3 records failed" in lines[0]
    assert not lines[0].startswith("{")
