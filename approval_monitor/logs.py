"""How every long-running process logs: one JSON object per line by default, for log shippers.

Worker, sink and deliverer hand this configuration to Faust's worker (which
otherwise installs its own coloured console format), the API to uvicorn, so
Faust's, Kafka clients', uvicorn's and our own messages all come out in one
format.  Fields a call passes as ``extra=`` become fields of its line;
``APPROVAL_MONITOR_LOG_FORMAT=text`` gives plain lines for a terminal.
"""

from __future__ import annotations

from typing import Any

TEXT_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"


def logging_config(fmt: str, level: str = "info") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict: everything to stdout, in ``fmt`` ("json" or "text")."""
    if fmt == "json":
        from pythonjsonlogger.core import RESERVED_ATTRS

        formatter: dict[str, Any] = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(process)d %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger", "process": "pid"},
            "timestamp": "time",
            "reserved_attrs": [*RESERVED_ATTRS, "color_message"],  # uvicorn's ANSI-coloured copy of the message
        }
    else:
        formatter = {"format": TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "stdout": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stdout"}
        },
        "root": {"level": level.upper(), "handlers": ["stdout"]},
    }
