"""The ``memory`` table store: a dict per partition, rebuilt on assignment by reading the changelog in bulk.

Faust's recovery hands a changelog to its store a message at a time: each one
passes the consumer's callback raced against flow control, the conductor, a
queue and the recovery loop, which also recounts what remains of every
partition.  Measured, a restarted worker rebuilt about 5,000 cases a second
that way (284 s at a million cases, README "Performance").  This store reads
each newly assigned partition of its changelog itself, with a plain consumer,
from the start to the end offset taken when the partition was assigned, and
says it holds that offset: Faust's recovery then reads only what came after,
its usual way.  Same data, same order, same tombstones; only the path is short.

Keys are kept per partition, so a revoked partition is dropped whole and the
worker reads exactly the partitions it owns.  A bulk read that fails leaves the
partition to Faust's recovery from the start (applying the changelog again, in
order, over a prefix of itself gives the same state).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust import stores
from faust.stores import memory
from faust.types import TP

log = logging.getLogger("approval_monitor.memory_store")

Values = dict[bytes, bytes]
SCHEME = "memory-by-partition"  # the store URL's scheme (``store_url``)


def store_url(table_store: str) -> str:
    """The Faust store URL for a table store the settings name: ``memory`` is this store (registered with Faust's
    store registry, as a plugin's entry point would be), ``rocksdb`` Faust's own."""
    if table_store != "memory":
        return f"{table_store}://"
    stores.STORES.aliases.setdefault(SCHEME, f"{__name__}:Store")
    return f"{SCHEME}://"


def bootstrap_of(app: Any) -> str:
    return ",".join(f"{url.host}:{url.port}" for url in app.conf.broker)


async def read_changelog(
    bootstrap: str, tps: Iterable[TP], into: dict[int, Values], stall_seconds: float = 30.0
) -> dict[TP, int]:
    """Apply every message of ``tps`` below the end offsets taken now to ``into`` (per partition); the last offset
    applied per partition (partitions found empty are left out).  Raises ``TimeoutError`` when nothing comes for
    ``stall_seconds`` before the end offsets are reached."""
    wanted = [TopicPartition(tp.topic, tp.partition) for tp in tps]
    if not wanted:
        return {}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 << 20,
    )
    await consumer.start()
    try:
        consumer.assign(wanted)
        ends = await consumer.end_offsets(wanted)
        starts = await consumer.beginning_offsets(wanted)
        left = {tp for tp in wanted if ends[tp] > starts[tp]}
        for tp in left:
            consumer.seek(tp, starts[tp])
        moved_at = time.monotonic()
        while left:
            got = await consumer.getmany(*left, timeout_ms=1000, max_records=20000)
            for tp, records in got.items():
                values = into.setdefault(tp.partition, {})
                end = ends[tp]
                for r in records:
                    if r.offset >= end:
                        break
                    if r.value is None:
                        values.pop(r.key, None)
                    else:
                        values[r.key] = r.value
            now = time.monotonic()
            if got:
                moved_at = now
            elif now - moved_at > stall_seconds:
                at = {f"{tp.topic}[{tp.partition}]": (await consumer.position(tp), ends[tp]) for tp in left}
                raise TimeoutError(f"no message for {stall_seconds:.0f} s; (position, end) {at}")
            for tp in [tp for tp in left if await consumer.position(tp) >= ends[tp]]:
                left.discard(tp)
                consumer.pause(tp)
        return {TP(tp.topic, tp.partition): end - 1 for tp, end in ends.items() if end > starts[tp]}
    finally:
        await consumer.stop()


class Store(memory.Store[bytes, bytes]):
    """Faust's in-memory store with a dict per partition and a bulk read of the changelog on assignment."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.partitions: dict[int, Values] = {}
        self.offsets: dict[TP, int] = {}  # per changelog partition held: the last offset applied here

    @property
    def changelog(self) -> str:
        return str(self.table.changelog_topic.get_topic_name())

    def partition(self, partition: int) -> Values:
        values = self.partitions.get(partition)
        if values is None:
            values = self.partitions[partition] = {}
        return values

    def persisted_offset(self, tp: TP) -> int | None:
        return self.offsets.get(tp)

    def set_persisted_offset(self, tp: TP, offset: int) -> None:
        self.offsets[tp] = offset

    def apply_changelog_batch(
        self, batch: Iterable[Any], to_key: Callable[[Any], Any], to_value: Callable[[Any], Any]
    ) -> None:
        for event in batch:
            message = event.message
            values = self.partition(message.partition)
            if message.value is None:
                values.pop(to_key(event.key), None)
            else:
                values[to_key(event.key)] = to_value(event.value)
            self.offsets[message.tp] = message.offset

    async def on_rebalance(
        self, assigned: set[TP], revoked: set[TP], newly_assigned: set[TP], generation_id: int = 0
    ) -> None:
        topic = self.changelog
        for tp in revoked:
            if tp.topic == topic:
                self.partitions.pop(tp.partition, None)
                self.offsets.pop(tp, None)
        actives = {tp for tp in self.app.assignor.assigned_actives() if tp.topic == topic}
        missing = sorted(tp for tp in actives if tp not in self.offsets)
        if not missing:
            return
        for tp in missing:
            self.partitions[tp.partition] = {}  # read from the start: nothing held before may stay
        started = time.monotonic()
        try:
            self.offsets.update(await read_changelog(bootstrap_of(self.app), missing, self.partitions))
        except Exception as e:  # Kafka away: Faust's recovery reads these partitions from the start instead
            log.warning("could not read %s in bulk, recovering it message by message: %r", topic, e)
            return
        log.info(
            "%s: %d partitions read in bulk, %d keys, in %.1f s",
            topic, len(missing), sum(len(self.partitions[tp.partition]) for tp in missing), time.monotonic() - started,
            extra={"topic": topic, "partitions": [tp.partition for tp in missing]},
        )  # fmt: skip

    async def on_recovery_completed(self, active_tps: set[TP], standby_tps: set[TP]) -> None:
        """Partitions neither active nor standby here any more are dropped."""
        keep = {tp.partition for tp in active_tps | standby_tps if tp.topic == self.changelog}
        for p in [p for p in self.partitions if p not in keep]:
            del self.partitions[p]

    def _clear(self) -> None:
        self.partitions.clear()
        self.offsets.clear()
