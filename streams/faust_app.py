"""The Faust settings the worker, the sink and the deliverer share.

Every topic — changelogs included — carries our own JSON bytes, so keys and
values are raw; tables live in memory and are rebuilt from their changelogs
(the worker's may live in RocksDB instead: ``streams.local_tables``), local
files under the configured state directory;
a partition never committed starts at its earliest offset; producers wait for
every in-sync replica.  Faust's web server is off: metrics have their own port.
The processes are run by the composition root (``approval_monitor.processes``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faust

from streams.config import Kafka

# Topic arguments for raw bytes (bytes types make Faust pick the raw codec for changelogs too).
RAW: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}


def new_app(app_id: str, kafka: Kafka, **overrides: Any) -> faust.App:
    Path(kafka.state_dir).mkdir(parents=True, exist_ok=True)  # Faust makes only the app's own directory in it
    conf: dict[str, Any] = {
        "broker": [f"kafka://{b.strip()}" for b in kafka.bootstrap.split(",")],
        "store": "memory://",
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1,
        "web_enabled": False,
        "key_serializer": "raw",
        "value_serializer": "raw",
        "table_standby_replicas": 0,
        "broker_session_timeout": kafka.session_timeout_seconds,
        "broker_heartbeat_interval": min(3.0, kafka.session_timeout_seconds / 3),
        "topic_replication_factor": kafka.replication,
        "datadir": str(Path(kafka.state_dir) / app_id),
    }
    return faust.App(app_id, **{**conf, **overrides})
