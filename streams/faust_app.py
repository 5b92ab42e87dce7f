"""The Faust settings the worker, the sink and the deliverer share.

Every topic — changelogs included — carries our own JSON bytes, so keys and
values are raw; tables live in memory and are rebuilt from their changelogs;
a partition never committed starts at its earliest offset; producers wait for
every in-sync replica.  Faust's web server is off: metrics have their own port.
"""

from __future__ import annotations

from typing import Any

import faust

from approval_monitor.logs import logging_config
from approval_monitor.settings import Settings
from streams.metrics import PipelineMetrics

# Topic arguments for raw bytes (bytes types make Faust pick the raw codec for changelogs too).
RAW: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}


def new_app(app_id: str, settings: Settings, bootstrap: str, **overrides: Any) -> faust.App:
    conf: dict[str, Any] = {
        "broker": [f"kafka://{b.strip()}" for b in bootstrap.split(",")],
        "store": "memory://",
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1,
        "web_enabled": False,
        "key_serializer": "raw",
        "value_serializer": "raw",
        "table_standby_replicas": 0,
        "broker_session_timeout": settings.session_timeout_seconds,
        "broker_heartbeat_interval": min(3.0, settings.session_timeout_seconds / 3),
    }
    return faust.App(app_id, **{**conf, **overrides})


def run_app(app: faust.App, settings: Settings, metrics: PipelineMetrics, loglevel: str) -> None:
    """Serve the process's metrics and hand ``app`` to Faust's worker, logging in the configured format."""
    metrics.serve(settings.metrics_port)
    config = logging_config(settings.log_format, loglevel)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, override_logging=True, logging_config=config)
    worker.execute_from_commandline()
