"""The worker's own read positions, kept with its state: no event can be skipped.

Faust's committed offsets say what its consumer *acknowledged*, not what was
judged, and its fetcher can run ahead of both: records fetched for a partition
before recovery pauses it are dropped as "not active", and its gap tracking
then takes the hole for a compacted range and commits past it (observed: a
worker killed before its first commit skipped every event sent while it was
down).  Narrowing that window is not enough for evidence, so correctness no
longer rests on the consumer at all.

Per events partition the worker keeps ``next``, the first offset it has not
judged, in a table co-partitioned with the case states and written *after* them
in every batch (so a crash between the two only re-judges events whose ids the
states already hold, and those are skipped).  The agent judges a message only at
that position: below it, the message was judged already; above it, the fetcher
skipped something, and the missing range is read straight from Kafka by a
plain consumer and judged first.  Whatever the interleaving of start, fetch,
recovery, rebalance and crash, positions cannot run ahead of judging.

Catching up (Flink's rule: timers fire when the input has caught up).  On
assignment each partition's end offset is taken as its *target*; until ``next``
reaches it, the partition's timers stay asleep, so a completion waiting in the
backlog is read before the overdue it disproves could fire.  A partition whose
consumer makes no progress below its target (transaction markers at the end, a
fetch that went astray) is read directly too, then declared caught up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

log = logging.getLogger("approval_monitor.positions")

SKIP, JUDGE, GAP = 0, 1, 2


class Positions:
    """Next offset to judge and catch-up target per events partition this worker owns."""

    def __init__(self, topic: str, bootstrap: str, client_id: str, max_fetch_bytes: int) -> None:
        self.topic = topic
        self.bootstrap = bootstrap
        self.client_id = client_id
        self.max_fetch_bytes = max_fetch_bytes
        self.next: dict[int, int] = {}
        self.target: dict[int, int] = {}  # only partitions still catching up
        self.changed: set[int] = set()  # positions moved since the last save
        self.progress_at: dict[int, float] = {}
        self._reader: AIOKafkaConsumer | None = None

    # -- ownership -------------------------------------------------------------------
    def assign(self, partition: int, next_offset: int, end_offset: int) -> None:
        self.next[partition] = next_offset
        self.progress_at[partition] = time.monotonic()
        if next_offset < end_offset:
            self.target[partition] = end_offset
        else:
            self.target.pop(partition, None)

    def drop(self, partitions: Iterable[int]) -> None:
        for p in partitions:
            self.next.pop(p, None)
            self.target.pop(p, None)
            self.progress_at.pop(p, None)
            self.changed.discard(p)

    def owned(self) -> list[int]:
        return sorted(self.next)

    def live(self, partition: int) -> bool:
        """Owned and caught up: its timers may fire on the wall clock."""
        return partition in self.next and partition not in self.target

    def catching_up(self) -> dict[int, int]:
        return dict(self.target)

    # -- judging ------------------------------------------------------------------------
    def place(self, partition: int, offset: int) -> int:
        """SKIP a message judged already (or of a partition not owned), JUDGE the next one, or GAP."""
        nxt = self.next.get(partition)
        if nxt is None or offset < nxt:
            return SKIP
        return JUDGE if offset == nxt else GAP

    def advance(self, partition: int, offset: int) -> bool:
        """The message at ``offset`` is judged; True when that caught the partition up."""
        self.next[partition] = offset + 1
        self.changed.add(partition)
        self.progress_at[partition] = time.monotonic()
        target = self.target.get(partition)
        if target is not None and offset + 1 >= target:
            del self.target[partition]
            log.info(
                "partition %d caught up at offset %d: its timers fire from now on", partition, offset + 1,
                extra={"partition": partition, "offset": offset + 1},
            )  # fmt: skip
            return True
        return False

    def caught_up(self, partition: int) -> None:
        """Nothing is left to judge below the target (the range was read directly)."""
        if self.target.pop(partition, None) is not None:
            log.info(
                "partition %d caught up at offset %d: its timers fire from now on", partition, self.next[partition],
                extra={"partition": partition, "offset": self.next[partition]},
            )  # fmt: skip

    def stalled(self, after: float) -> list[int]:
        """Partitions still catching up whose consumer has judged nothing for ``after`` seconds."""
        now = time.monotonic()
        return [p for p in self.target if now - self.progress_at.get(p, now) >= after]

    def take_changed(self) -> dict[int, int]:
        out = {p: self.next[p] for p in self.changed if p in self.next}
        self.changed.clear()
        return out

    # -- reading past the consumer ----------------------------------------------------
    async def read(self, partition: int, start: int, stop: int, timeout: float = 120.0) -> list[Any]:
        """Every message of ``partition`` in ``[start, stop)``, read directly from Kafka.

        Offsets may be missing in that range (transaction markers, retention); the
        read ends when the reader's position reaches ``stop``.  Raises when Kafka
        cannot be read within ``timeout``: the caller must not judge past it then.
        """
        reader = await self._ensure_reader()
        tp = TopicPartition(self.topic, partition)
        reader.assign([tp])
        reader.seek(tp, start)
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        while True:
            position = await reader.position(tp)
            if position >= stop:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {self.topic}[{partition}] from {start} to {stop} in {timeout:.0f}s")
            got = await reader.getmany(tp, timeout_ms=500)
            for rec in got.get(tp, []):
                if start <= rec.offset < stop:
                    out.append(rec)
        if out and out[0].offset > start:
            log.warning(
                "%s[%d]: offsets %d..%d are no longer in Kafka (retention); judging from %d",
                self.topic, partition, start, out[0].offset - 1, out[0].offset,
                extra={"partition": partition, "first": start, "available": out[0].offset},
            )  # fmt: skip
        return out

    async def end_offsets(self, partitions: Iterable[int]) -> dict[int, tuple[int, int]]:
        """(earliest, end) offsets of ``partitions`` now."""
        reader = await self._ensure_reader()
        tps = [TopicPartition(self.topic, p) for p in partitions]
        if not tps:
            return {}
        first = await reader.beginning_offsets(tps)
        ends = await self.end_offsets_now(tp.partition for tp in tps)
        return {tp.partition: (first[tp], ends[tp.partition]) for tp in tps}

    async def end_offsets_now(self, partitions: Iterable[int]) -> dict[int, int]:
        """The end offset of each of ``partitions`` now (one request)."""
        reader = await self._ensure_reader()
        tps = [TopicPartition(self.topic, p) for p in partitions]
        ends = await reader.end_offsets(tps) if tps else {}
        return {tp.partition: off for tp, off in ends.items()}

    async def _ensure_reader(self) -> AIOKafkaConsumer:
        if self._reader is None:
            reader = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                client_id=f"{self.client_id}-positions",
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",  # a range lost to retention starts at what is left
                max_partition_fetch_bytes=self.max_fetch_bytes,
                fetch_max_bytes=max(self.max_fetch_bytes, 52428800),
            )
            await reader.start()
            self._reader = reader
        return self._reader

    async def close(self) -> None:
        if self._reader is not None:
            reader, self._reader = self._reader, None
            await asyncio.shield(reader.stop())
