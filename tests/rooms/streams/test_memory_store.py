"""The memory table store's bulk read of a changelog, against real Kafka: the state Faust's recovery would rebuild."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from faust.types import TP
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from streams.memory_store import read_changelog

pytestmark = pytest.mark.kafka


def _changelog(bootstrap: str, partitions: int) -> str:
    topic = f"t{uuid.uuid4().hex[:8]}-cases-changelog"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, partitions, 1, topic_configs={"cleanup.policy": "compact"})])
    finally:
        admin.close()
    return topic


def test_puts_overwrites_and_tombstones_apply_in_order_per_partition(kafka_bootstrap: str) -> None:
    topic = _changelog(kafka_bootstrap, 3)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    writes: list[tuple[int, bytes, bytes | None]] = [
        (0, b"a", b"1"),
        (0, b"b", b"1"),
        (0, b"a", b"2"),
        (0, b"b", None),  # deleted
        (0, b"c", b"\x00\xff{}"),  # bytes kept as they are
        (1, b"x", b"1"),
        (1, b"x", None),
        (1, b"x", b"3"),  # deleted, then written again
    ]
    for partition, key, value in writes:
        producer.send(topic, key=key, value=value, partition=partition)
    # Many messages in one partition: more than one fetch and one getmany's worth.
    for i in range(30_000):
        producer.send(topic, key=f"k{i % 7000}".encode(), value=f"v{i}".encode(), partition=2)
    producer.flush()
    producer.close()

    into: dict[int, dict[bytes, bytes]] = {9: {b"other": b"kept"}}  # a partition not read is left alone
    offsets = asyncio.run(read_changelog(kafka_bootstrap, [TP(topic, p) for p in range(3)], into))

    assert into[0] == {b"a": b"2", b"c": b"\x00\xff{}"}
    assert into[1] == {b"x": b"3"}
    assert into[2] == {f"k{i % 7000}".encode(): f"v{i}".encode() for i in range(30_000)}  # the last of each key
    assert into[9] == {b"other": b"kept"}
    assert offsets == {TP(topic, 0): 4, TP(topic, 1): 2, TP(topic, 2): 29_999}


def test_an_empty_changelog_holds_nothing_and_says_no_offset(kafka_bootstrap: str) -> None:
    topic = _changelog(kafka_bootstrap, 2)
    into: dict[int, dict[bytes, bytes]] = {}
    assert asyncio.run(read_changelog(kafka_bootstrap, [TP(topic, 0), TP(topic, 1)], into)) == {}
    assert into == {}
