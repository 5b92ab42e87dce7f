"""Reading a whole small topic as it is now: every message up to the end offsets taken first.

Subscriptions, anchors and tests read topics this way; stopping at the end offsets, not at
an idle gap, means a slow fetch on a loaded machine cannot pass for the end of the topic.
No consumer group: nothing is committed.
"""

from __future__ import annotations

import time
from typing import Any

from kafka import KafkaConsumer, TopicPartition


def read_to_end(bootstrap: str, topic: str, timeout: float = 20.0) -> list[Any]:
    """Every message of ``topic`` below the end offsets taken at the start (kafka-python records)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read topic {topic!r} to its end within {timeout:.0f} s")
            for batch in consumer.poll(timeout_ms=500).values():
                out.extend(batch)
        return out
    finally:
        consumer.close()
