"""Where an event came from and when it arrived: the Kafka headers and timestamp the worker trusts.

The HTTP ingest stamps each event it publishes with the ingest key's agency scope and name
(``am-scope``, ``am-sender``); a Kafka producer may carry its own configured scope, and a
producer that must not write outside a subtree is kept honest by Kafka ACLs (README). The
worker, which knows each case's agency, refuses an event outside the scope it carries.

The events topic is created with ``message.timestamp.type=LogAppendTime``: the broker, not
the sender, stamps each message as it is appended, and that instant is the event's
``received_at`` (contract §7.8), whatever the sender wrote in the event.  An operator who
backfills an archive through a trusted bridge may keep the producer's timestamps instead
(``APPROVAL_MONITOR_SENDER_TIMESTAMPS``): the bridge then stamps each message with the
instant the report originally arrived, and nobody else may write to that topic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SCOPE_HEADER = "am-scope"
SENDER_HEADER = "am-sender"
EVENTS_TOPIC_CONFIG = {"message.timestamp.type": "LogAppendTime"}
BACKFILL_TOPIC_CONFIG = {"message.timestamp.type": "CreateTime"}


def events_topic_config(sender_timestamps: bool) -> dict[str, str]:
    """The broker's stamp, unless the operator runs a trusted bridge that backfills original receipt instants."""
    return BACKFILL_TOPIC_CONFIG if sender_timestamps else EVENTS_TOPIC_CONFIG


def headers_for(scope: str | None, sender: str | None) -> list[tuple[str, bytes]]:
    out = []
    if scope is not None:
        out.append((SCOPE_HEADER, scope.encode()))
    if sender is not None:
        out.append((SENDER_HEADER, sender.encode()))
    return out


def header(msg: Any, name: str) -> str | None:
    """One header of a Faust message or an aiokafka record, as text; None when absent."""
    headers = getattr(msg, "headers", None)
    if not headers:
        return None
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for key, value in pairs:
        if key == name and value is not None:
            return bytes(value).decode("utf-8", errors="replace")
    return None


def received_at(msg: Any) -> int | None:
    """The message's timestamp in epoch seconds: Faust's messages give seconds (a float), aiokafka's
    records milliseconds (an int)."""
    ts = getattr(msg, "timestamp", None)
    if ts is None or ts < 0:
        return None
    return int(ts) if isinstance(ts, float) else int(ts) // 1000
