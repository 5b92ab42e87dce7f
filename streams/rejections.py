"""What lands on the rejected topic: the input's exact bytes, its origin and why — always fitting.

A rejection is evidence of what an agency sent, so it keeps the message's bytes
exactly (``rules.events.raw_fields``: text, or base64 when it is not UTF-8) and
its key the same way.  It must also always be producible: a rejection that is
larger than the rejected topic accepts would stop the worker on one bad message.
So when the whole input does not fit, the rejection keeps its first bytes, its
size and its SHA-256 — enough to identify it in the agency's own logs — and says
so (``raw_truncated``).  Inputs above the worker's size cap are refused as
``too_large`` before any parsing, whether or not they are kept whole.
"""

from __future__ import annotations

import hashlib
import time
from types import SimpleNamespace
from typing import Any

import orjson

from rules.events import Rejection, raw_fields
from streams.provenance import SCOPE_HEADER, SENDER_HEADER, header, headers_for

HEAD_BYTES = 4096  # what a truncated rejection keeps of its input
OVERHEAD = 4096  # room left in the topic's limit for Kafka's record and batch headers


def too_large(offset: int, size: int, cap: int, raw: bytes) -> Rejection:
    return Rejection(
        offset,
        None,
        None,
        "too_large",
        f"the message is {size} bytes; the worker accepts events up to {cap} bytes "
        "(APPROVAL_MONITOR_MAX_EVENT_BYTES): send one event per message, without attachments",
        raw,
    )


def refused_message(r: Rejection, topic: str, sender: str | None, scope: str | None, limit: int) -> bytes:
    """The rejected topic's message for an event refused before it reached ``topic`` (the HTTP ingest,
    an emitter): as the worker's, with no partition or offset, and the sender and scope it came with."""
    origin = SimpleNamespace(topic=topic, partition=None, offset=None, key=None, headers=headers_for(scope, sender))
    return rejection_message(r, origin, limit)


def rejection_message(r: Rejection, msg: Any, limit: int) -> bytes:
    """The rejected topic's message for ``r``, never longer than ``limit`` bytes."""
    body: dict[str, Any] = {
        "event_id": r.event_id,
        "case_id": r.case_id,
        "code": r.code,
        "reason": r.reason,
        "topic": msg.topic,
        "partition": msg.partition,
        "offset": msg.offset,
        "key": None,
        "rejected_at": int(time.time()),
    }
    for name, field in ((SENDER_HEADER, "sender"), (SCOPE_HEADER, "scope")):
        value = header(msg, name)
        if value is not None:
            body[field] = value
    key = msg.key
    if key is not None:
        k = raw_fields(bytes(key))
        body["key"] = k["raw"]
        if "raw_encoding" in k:
            body["key_encoding"] = k["raw_encoding"]
    raw = r.raw
    body.update(raw_fields(raw))
    out = orjson.dumps(body)
    if len(out) <= limit - OVERHEAD or raw is None:
        return out
    del body["raw"]
    body.pop("raw_encoding", None)
    body["key"] = None if body["key"] is None else str(body["key"])[:256]
    head = raw_fields(raw[:HEAD_BYTES])
    body.update(
        raw=head["raw"],
        raw_encoding=head.get("raw_encoding", "utf-8"),
        raw_truncated=True,
        raw_size=len(raw),
        raw_sha256=hashlib.sha256(raw).hexdigest(),
    )
    return orjson.dumps(body)
