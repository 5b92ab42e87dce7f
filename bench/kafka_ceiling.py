"""The Kafka client's ceiling for the worker's I/O: what a minimal aiokafka loop does on the same topic and broker.

The loop does the I/O the worker must do for every event and nothing else:
consume in batches, produce one message per event with ``acks=all`` (the
worker's producer setting), wait for the batch's acknowledgements, commit.
No parsing, no state.  The worker's throughput is printed as a ratio of this
figure measured in the same run, on the same broker and the same topic: the
machine is shared, so the ratio is what counts.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition


async def _ceiling(bootstrap: str, topic: str, partitions: int, out_topic: str, batch_max: int) -> tuple[int, float]:
    group = f"ceiling-{uuid.uuid4().hex[:8]}"
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=batch_max,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await consumer.start()
    await producer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)  # the group's offsets are committed; no rebalancing to wait for
        ends = await consumer.end_offsets(tps)
        left = {tp for tp, end in ends.items() if end > 0}
        if not left:
            raise RuntimeError(f"{topic} has nothing to read")
        done = 0
        t0: float | None = None
        while left:
            batch = await consumer.getmany(timeout_ms=1000, max_records=batch_max)
            if not batch:
                continue
            if t0 is None:
                t0 = time.monotonic()
            futures = []
            for tp, msgs in batch.items():
                for m in msgs:
                    futures.append(await producer.send(out_topic, m.value, key=m.key))
                    done += 1
                if msgs[-1].offset + 1 >= ends[tp]:
                    left.discard(tp)
            await asyncio.gather(*futures)
            await consumer.commit()
        return done, time.monotonic() - (t0 or time.monotonic())
    finally:
        await consumer.stop()
        await producer.stop()


def aiokafka_ceiling(
    bootstrap: str, topic: str, partitions: int, out_topic: str, batch_max: int = 500
) -> tuple[int, float]:
    """(messages, seconds) to read ``topic`` to its end, producing one message per input to ``out_topic``."""
    return asyncio.run(_ceiling(bootstrap, topic, partitions, out_topic, batch_max))
