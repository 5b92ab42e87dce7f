"""The upstream side: how an agency system puts events on the events topic.

``Emitter`` validates each event with the same gate the worker uses
(``rules.events.decode``) before it leaves the agency, keys it by ``case_id``
(so a case's events stay in order on one partition), sends the JSON in one
canonical encoding, and waits for the broker's acknowledgement, reporting each
failure.  The HTTP ingest uses this same class, so events sent either way are
byte-for-byte alike.

kafka-python's producer is used as its authors intend (a background sender
thread, futures per message); its *group consumer* is not used anywhere,
since it hangs against the embedded broker.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from kafka import KafkaProducer
from kafka.errors import KafkaError

from rules.agency import in_subtree
from rules.events import Event, Rejection, decode
from streams.provenance import headers_for
from streams.rejections import refused_message, too_large


@dataclass(slots=True)
class Sent:
    """What became of one event: on the topic (partition, offset), or not, and why."""

    index: int
    event_id: str | None
    ok: bool
    partition: int | None = None
    offset: int | None = None
    error: str | None = None
    code: str | None = None


def encode(obj: dict[str, Any]) -> bytes:
    """The one wire encoding of an event (compact JSON, keys in the sender's order)."""
    return orjson.dumps(obj)


MAX_DEPTH = 16  # nesting an event may have: its fields are flat; deeper values are attachments or attacks


def _depth(value: Any, limit: int) -> int:
    """How deep ``value`` nests, counting no further than ``limit + 1``."""
    stack = [(value, 1)]
    deepest = 0
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return deepest


class Emitter:
    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        *,
        timeout: float = 30.0,
        client_id: str = "approval-emitter",
        scope: str | None = None,
        sender: str | None = None,
        rejected_topic: str | None = None,
        max_event_bytes: int = 65536,
        rejected_max_bytes: int = 2_097_152,
        connect_timeout: float = 30.0,
    ) -> None:
        """``scope`` and ``sender``: what every event this producer sends carries (``streams.provenance``),
        unless ``send_many`` is given others (the HTTP ingest passes each caller's).  ``rejected_topic``:
        where events refused at the door are kept, byte for byte, with the reason and the sender."""
        self.topic = topic
        self.scope, self.sender = scope, sender
        self.rejected_topic = rejected_topic
        self.max_event_bytes, self.rejected_max_bytes = max_event_bytes, rejected_max_bytes
        self.timeout = timeout
        self.bootstrap_servers = bootstrap_servers
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap_servers,
            client_id=client_id,
            acks="all",
            retries=5,
            linger_ms=5,
            max_in_flight_requests_per_connection=1,  # retries must not reorder a case's events
            request_timeout_ms=int(timeout * 1000),
            max_request_size=max(rejected_max_bytes, 1_048_576),
            bootstrap_timeout_ms=int(connect_timeout * 1000),  # how long to look for a broker at all
        )

    def check(self, obj: Any, i: int, scope: str | None) -> tuple[Event | Rejection, bytes]:
        """One event judged at the door, as the worker would, and its wire bytes (or what can be kept of it)."""
        try:
            value = encode(obj)
        except TypeError as e:  # an integer beyond 64 bits, a lone surrogate: nothing Kafka's JSON may carry
            raw = repr(obj)[:4096].encode("utf-8", errors="backslashreplace")
            why = f"a value cannot be sent as JSON ({e}); send integers within 64 bits and valid Unicode text"
            return Rejection(i, None, None, "bad_value", why, raw), raw
        if len(value) > self.max_event_bytes:
            return too_large(i, len(value), self.max_event_bytes, value), value
        if _depth(obj, MAX_DEPTH) > MAX_DEPTH:
            why = f"the event nests deeper than {MAX_DEPTH} levels; events are flat objects of the contract's fields"
            return Rejection(i, None, None, "too_deep", why, value), value
        got = decode(obj, i, value)
        if isinstance(got, Event) and got.agency_id is not None and not in_subtree(got.agency_id, scope):
            why = f"agency {got.agency_id!r} is outside this sender's scope {scope!r}"
            return Rejection(i, got.event_id, got.case_id, "out_of_scope", why, value), value
        return got, value

    def send_many(self, objs: Iterable[Any], *, scope: str | None = None, sender: str | None = None) -> list[Sent]:
        """Judge every event at the door first, then send those that pass and keep those that do not (on the
        rejected topic, when there is one), and wait for every acknowledgement; one result each, in order."""
        scope, sender = scope or self.scope, sender or self.sender
        headers = headers_for(scope, sender)
        checked = [self.check(obj, i, scope) for i, obj in enumerate(objs)]
        results: list[Sent] = []
        pending: list[tuple[Sent | None, Any]] = []  # (the event's result, or None for a kept refusal; its future)
        for i, (got, value) in enumerate(checked):
            if isinstance(got, Rejection):
                results.append(Sent(i, got.event_id, False, error=got.reason, code=got.code))
                if self.rejected_topic is not None:
                    kept = refused_message(got, self.topic, sender, scope, self.rejected_max_bytes)
                    key = got.case_id.encode() if got.case_id else None
                    pending.append((None, self.producer.send(self.rejected_topic, key=key, value=kept)))
                continue
            fut = self.producer.send(self.topic, key=got.case_id.encode(), value=value, headers=headers)
            sent = Sent(i, got.event_id, False)
            results.append(sent)
            pending.append((sent, fut))
        self.producer.flush(timeout=self.timeout)
        for result, fut in pending:
            try:
                meta = fut.get(timeout=self.timeout)
            except KafkaError as e:
                if result is not None:
                    result.error, result.code = f"not acknowledged by Kafka: {e}", "send_failed"
                continue
            if result is not None:
                result.ok, result.partition, result.offset = True, meta.partition, meta.offset
        return results

    def reachable(self, timeout: float = 2.0) -> str | None:
        """None when a bootstrap broker accepts a connection now; else what failed, for a readiness probe."""
        errors = []
        for server in self.bootstrap_servers.split(","):
            host, _, port = server.strip().rpartition(":")
            try:
                with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
                    return None
            except (OSError, ValueError) as e:
                errors.append(f"{server.strip()}: {e}")
        return "; ".join(errors)

    def send(self, obj: Any) -> Sent:
        return self.send_many([obj])[0]

    def close(self) -> None:
        self.producer.close(timeout=self.timeout)

    def __enter__(self) -> Emitter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
