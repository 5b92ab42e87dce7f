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

from rules.events import Event, Rejection, decode


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


class Emitter:
    def __init__(
        self, bootstrap_servers: str, topic: str, *, timeout: float = 30.0, client_id: str = "approval-emitter"
    ) -> None:
        self.topic = topic
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
        )

    def send_many(self, objs: Iterable[Any]) -> list[Sent]:
        """Validate and send every event, then wait for all acknowledgements; one result each, in order."""
        results: list[Sent] = []
        pending = []
        for i, obj in enumerate(objs):
            got = decode(obj, i)
            if isinstance(got, Rejection):
                results.append(Sent(i, got.event_id, False, error=got.reason, code=got.code))
                continue
            assert isinstance(got, Event)
            fut = self.producer.send(self.topic, key=got.case_id.encode(), value=encode(obj))
            sent = Sent(i, got.event_id, False)
            results.append(sent)
            pending.append((sent, fut))
        self.producer.flush(timeout=self.timeout)
        for sent, fut in pending:
            try:
                meta = fut.get(timeout=self.timeout)
            except KafkaError as e:
                sent.error, sent.code = f"not acknowledged by Kafka: {e}", "send_failed"
                continue
            sent.ok, sent.partition, sent.offset = True, meta.partition, meta.offset
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
