"""Following the records topic for live alert streams: from now, or from exactly where a client left off.

The records topic is the durable log of every alert, so a stream needs no
buffer of its own: each connection reads the topic with its own consumer (no
group: nothing is committed, nobody else's position moves) and names its
position after every record as the next offset of each partition —
``"0:1520,1:1498,…"``.  A client that reconnects with that position resumes
exactly there: nothing missed, nothing twice, however long it was away (as far
back as the topic's retention).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

log = logging.getLogger("approval_monitor.alerts")

Position = dict[int, int]


def encode_position(pos: Position) -> str:
    return ",".join(f"{p}:{o}" for p, o in sorted(pos.items()))


def decode_position(text: str) -> Position:
    """The inverse of ``encode_position``; ValueError naming the fix for anything else."""
    try:
        pos = {int(p): int(o) for p, o in (part.split(":") for part in text.split(",") if part)}
    except ValueError:
        raise ValueError(
            f"Last-Event-ID {text!r} is not a stream position this service issued (partition:offset,…); "
            "reconnect without it to start from now"
        ) from None
    if not pos or any(p < 0 or o < 0 for p, o in pos.items()):
        raise ValueError(f"Last-Event-ID {text!r} names no partition or a negative offset; reconnect without it")
    return pos


class RecordFeed:
    """Opens one consumer per follower on ``topic`` of the Kafka at ``bootstrap``."""

    def __init__(self, bootstrap: str, topic: str, poll_seconds: float = 1.0) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.poll_ms = int(poll_seconds * 1000)

    async def follow(self, resume: Position | None) -> AsyncIterator[tuple[str, dict[str, Any] | None]]:
        """(position, record) for every record after ``resume`` (or after now); ``(position, None)``
        when a poll brought nothing, so that the caller can send a heartbeat."""
        # Subscribed without a group, the consumer assigns itself every partition of the topic.
        consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            client_id="approval-alerts",
        )
        await consumer.start()
        try:
            deadline = time.monotonic() + 10
            while not consumer.assignment():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the records topic {self.topic!r} does not exist yet; start a worker first")
                await asyncio.sleep(0.05)
            tps = sorted(consumer.assignment())
            if resume is None:
                await consumer.seek_to_end(*tps)
            else:
                for tp in tps:
                    if tp.partition in resume:
                        consumer.seek(tp, resume[tp.partition])
                    else:  # a partition added since: everything on it is new to this client
                        await consumer.seek_to_beginning(tp)
            pos = {tp.partition: await consumer.position(tp) for tp in tps}
            yield encode_position(pos), None
            while True:
                batch = await consumer.getmany(timeout_ms=self.poll_ms)
                if not batch:
                    yield encode_position(pos), None
                    continue
                for tp, messages in batch.items():
                    for m in messages:
                        pos[tp.partition] = m.offset + 1
                        if m.value is not None:
                            yield encode_position(pos), orjson.loads(m.value)
        finally:
            await consumer.stop()
