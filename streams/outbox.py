"""A batch's case states to the changelog as record batches, one per partition: aiokafka's batch API.

Sending message by message costs a coroutine, a future and the accumulator's
bookkeeping per message; profiled, the worker spent almost as long sending a
batch's states as judging its events.  A state's partition is known (its
case's), so a batch's states are appended to one record batch per partition
and handed to the producer together; Kafka acknowledges each record batch with
its base offset, and the offset of the last state in it follows from its count.
"""

from __future__ import annotations

import asyncio
from typing import Any


class Outbox:
    """Messages for known partitions of one topic, sent as one record batch per partition (more when one fills)."""

    def __init__(self, producer: Any, topic: str) -> None:
        self.producer = producer  # aiokafka's AIOKafkaProducer
        self.topic = topic
        self.open: dict[int, Any] = {}
        self.full: list[tuple[int, Any]] = []

    def add(self, partition: int, key: bytes, value: bytes | None) -> None:
        batch = self.open.get(partition)
        if batch is None or batch.append(timestamp=None, key=key, value=value, headers=[]) is None:
            if batch is not None:
                self.full.append((partition, batch))
            batch = self.open[partition] = self.producer.create_batch()
            if batch.append(timestamp=None, key=key, value=value, headers=[]) is None:
                raise ValueError(f"a message of {len(value or b'')} bytes does not fit an empty record batch")

    async def send(self) -> dict[int, int]:
        """Send every batch and wait for Kafka: the highest offset written per partition."""
        batches = self.full + list(self.open.items())
        self.full, self.open = [], {}
        futures = [await self.producer.send_batch(b, self.topic, partition=p) for p, b in batches]
        metas = await asyncio.gather(*futures)
        top: dict[int, int] = {}
        for (p, b), meta in zip(batches, metas, strict=True):
            last = meta.offset + b.record_count() - 1  # offsets of a record batch are consecutive
            top[p] = max(top.get(p, -1), last)
        return top
