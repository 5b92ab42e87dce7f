"""A batch's messages to Kafka as record batches, one per topic partition: aiokafka's batch API.

Sending message by message costs a coroutine, a future and the accumulator's
bookkeeping per message; profiled, the worker spent almost as long sending a
batch's records and states as judging its events.  So a batch's messages are
appended to one record batch per topic partition and handed to the producer
together; Kafka acknowledges each record batch with its base offset, and the
offset of its last message follows from its count.  A message whose partition
is not fixed (records, rejections: keyed by case) gets the one the producer's
own partitioner gives its key, exactly as ``send`` would choose it.
"""

from __future__ import annotations

import asyncio
from typing import Any


class Outbox:
    """Messages for topics' partitions, sent as one record batch per partition (more when one fills)."""

    def __init__(self, producer: Any) -> None:
        self.producer = producer  # aiokafka's AIOKafkaProducer
        self.open: dict[tuple[str, int], Any] = {}
        self.full: list[tuple[tuple[str, int], Any]] = []
        self.known: set[str] = set()  # topics whose partitions the producer's metadata has

    async def ready(self, *topics: str) -> None:
        """Wait until the producer's metadata has these topics' partitions (once per topic)."""
        for topic in topics:
            if topic not in self.known:
                await self.producer.partitions_for(topic)
                self.known.add(topic)

    def put(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        """A message for the partition the producer's partitioner gives its key, as ``send`` would choose
        it (aiokafka's own choice: the configured partitioner, all and available partitions; one rule, not a
        copy).  The topic must be ``ready``."""
        self.add(topic, self.producer._partition(topic, None, None, None, key, None), key, value)

    def add(self, topic: str, partition: int, key: bytes | None, value: bytes | None) -> None:
        at = (topic, partition)
        batch = self.open.get(at)
        if batch is None or batch.append(timestamp=None, key=key, value=value, headers=[]) is None:
            if batch is not None:
                self.full.append((at, batch))
            batch = self.open[at] = self.producer.create_batch()
            batch.append(timestamp=None, key=key, value=value, headers=[])  # an empty batch takes any first message

    async def send(self) -> dict[tuple[str, int], int]:
        """Send every batch and wait for Kafka: the highest offset written per topic partition."""
        batches = self.full + list(self.open.items())
        self.full, self.open = [], {}
        futures = [await self.producer.send_batch(b, topic, partition=p) for (topic, p), b in batches]
        metas = await asyncio.gather(*futures)
        top: dict[tuple[str, int], int] = {}
        for (at, b), meta in zip(batches, metas, strict=True):
            last = meta.offset + b.record_count() - 1  # offsets of a record batch are consecutive
            top[at] = max(top.get(at, -1), last)
        return top


def of_topic(top: dict[tuple[str, int], int], topic: str) -> dict[int, int]:
    """The highest offsets written to one topic, per partition."""
    return {p: offset for (t, p), offset in top.items() if t == topic}
