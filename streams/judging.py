"""Judging batches of messages: events, actions and ticks in, records, rejections, states and positions out.

A batch is made durable in one order — records acknowledged by Kafka, then the
case states, then the read positions (``streams.positions``) — so a crash can
repeat a record (same id) but never lose one, raise a different one, or skip an
event.  Nothing in a message can stop the worker: an oversized, binary or
malformed input is a rejection kept with its exact bytes; an event the engine
fails on (a bug) is rejected as ``internal_error`` and its case goes on from
its last good state.  Only Kafka failing to take the batch's output stops the
worker, before its position moves, so the batch is judged again after a restart.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson

from rules.engine import CaseState, Engine, state_from_json
from rules.errors import BadInput
from rules.state import UnknownVersion
from streams.batch import Batch
from streams.metrics import PipelineMetrics
from streams.positions import GAP, SKIP, Positions
from streams.timers import Timers

log = logging.getLogger("approval_monitor.worker")


class VersionsDropped(BadInput):
    """The rule pack lacks item versions that running cases bound (contract §7.7): never re-time them silently."""

    def __init__(self, source: str, cases: list[UnknownVersion]) -> None:
        self.cases = cases
        shown = ", ".join(f"{e.case_id} ({e.code} {e.version})" for e in cases[:20])
        more = f" and {len(cases) - 20} more" if len(cases) > 20 else ""
        super().__init__(
            f"rule pack {source} no longer has the item versions {len(cases)} running case(s) were submitted under: "
            f"{shown}{more}. Keep those versions in the pack (add the new one with a later effective_from) until "
            "their cases close; `approval-monitor rules check NEW --against OLD` shows what changed"
        )


@dataclass(frozen=True, slots=True)
class JudgeConfig:
    """What judging needs from the configuration (built by the worker from ``Settings``)."""

    ticks_topic: str
    records_topic: str
    rejected_topic: str
    grace: int
    retain_seconds: int
    state_cache: int
    max_event_bytes: int
    rejected_max_bytes: int


class Judge:
    """The worker's judging state: engine, tables, decoded-state cache, timers and positions."""

    def __init__(
        self,
        app: Any,
        engine: Engine,
        cases: Any,
        saved_positions: Any,
        positions: Positions,
        metrics: PipelineMetrics,
        config: JudgeConfig,
        action_positions: Positions | None = None,
    ) -> None:
        self.app = app
        self.engine = engine
        self.cases = cases
        self.saved_positions = saved_positions
        self.positions = positions
        # Every input with positions of its own, and the table key its position is saved under: events (as
        # before actions existed) and the actions topic, judged exactly like events.
        self.feeds: dict[str, tuple[Positions, bytes]] = {positions.topic: (positions, b"%d")}
        if action_positions is not None:
            self.feeds[action_positions.topic] = (action_positions, b"actions:%d")
        self.metrics = metrics
        self.conf = config
        self.timers = Timers()
        # Decoded states of recently touched cases.  The agent is each case's only
        # writer, so the cache is exact while partitions stay put; it is emptied on
        # every revocation and recovery.
        self.decoded: OrderedDict[bytes, CaseState] = OrderedDict()

    def wake_at(self, st: CaseState) -> int | None:
        due = st.due
        if due is not None:
            return due + self.conf.grace
        if st.closed and not st.awaiting:
            return st.last_t + self.conf.retain_seconds  # then the case is forgotten
        return None

    def live(self, partition: int) -> bool:
        """Owned and caught up on every input: its timers may fire on the wall clock."""
        return all(pos.live(partition) for pos, _ in self.feeds.values())

    def catching_up(self) -> dict[str, dict[int, int]]:
        return {topic: pos.catching_up() for topic, (pos, _) in self.feeds.items() if pos.target}

    def load_stored(self, key: bytes) -> CaseState | None:
        stored = self.cases.get(key)
        return None if stored is None else state_from_json(self.engine, orjson.loads(stored))

    # -- batches ------------------------------------------------------------------------
    async def run(self, msgs: list[Any]) -> None:
        """Judge the messages of one batch from the consumer, in order, and make it durable."""
        batch = Batch(self, int(time.time()))
        ticks = []
        for msg in msgs:
            if msg.topic == self.conf.ticks_topic:
                # Ticks after the batch's events, whatever order the two topics were fetched in: an
                # event already in Kafka when the tick was sent must be applied before the wall clock
                # fires (a completion exactly at a level instant, fetched with the tick for that level).
                ticks.append(msg)
                continue
            p = msg.partition
            pos = self.feeds[msg.topic][0]
            verdict = pos.place(p, msg.offset)
            if verdict == SKIP:
                continue
            if verdict == GAP:
                start = pos.next[p]
                missed = await pos.read(p, start, msg.offset)
                # A gap without records is transaction markers or retention; with records, the consumer skipped.
                log.log(
                    logging.WARNING if missed else logging.DEBUG,
                    "offsets %d..%d of %s[%d] came not from the consumer; read them directly (%d messages)",
                    start, msg.offset - 1, msg.topic, p, len(missed),
                    extra={"topic": msg.topic, "partition": p, "first": start, "last": msg.offset - 1,
                           "events": len(missed)},
                )  # fmt: skip
                self.metrics.direct_reads.inc(len(missed))
                for rec in missed:
                    self._judge(batch, rec, pos)
            self._judge(batch, msg, pos)
        for msg in ticks:
            if self.live(msg.partition):  # a partition catching up fires nothing
                batch.tick(msg)
        batch.fire_wall_clock()
        await batch.commit()
        await self.save_positions()

    async def catch_up(self, topic: str, partition: int) -> None:
        """Read what is left below a stalled partition's target directly, judge it, and call it caught up."""
        pos = self.feeds[topic][0]
        target = pos.target.get(partition)
        if target is None:
            return
        start = pos.next[partition]
        missed = await pos.read(partition, start, target)
        if missed:
            log.warning(
                "%s[%d] made no progress below its end offset %d; read offsets %d.. directly (%d messages)",
                topic, partition, target, start, len(missed),
                extra={"topic": topic, "partition": partition, "first": start, "target": target,
                       "events": len(missed)},
            )  # fmt: skip
            self.metrics.direct_reads.inc(len(missed))
            batch = Batch(self, int(time.time()))
            for rec in missed:
                self._judge(batch, rec, pos)
            batch.fire_wall_clock()
            await batch.commit()
            await self.save_positions()
        pos.caught_up(partition)
        self.timers.changed.set()

    def stalled(self, after: float) -> list[tuple[str, int]]:
        return [(topic, p) for topic, (pos, _) in self.feeds.items() for p in pos.stalled(after)]

    def _judge(self, batch: Batch, msg: Any, pos: Positions) -> None:
        if pos.place(msg.partition, msg.offset) == SKIP:
            return
        if pos is self.positions:
            batch.event(msg)
        else:
            batch.action(msg)
        if pos.advance(msg.partition, msg.offset) and self.live(msg.partition):
            self.timers.changed.set()

    async def save_positions(self) -> None:
        send = self.app.producer.send
        topic = self.saved_positions.changelog_topic.get_topic_name()
        futures = []
        for pos, key_format in self.feeds.values():
            for p, offset in pos.take_changed().items():
                key, value = key_format % p, b"%d" % offset
                self.saved_positions.data[key] = value
                futures.append(await send(topic, key, value, p, None, None))
        for fut in futures:
            await fut

    # -- ownership ----------------------------------------------------------------------
    async def recovered(self, active: set[int]) -> int:
        """Recovery is complete: positions, catch-up targets and due-indexes of ``active`` partitions."""
        self.decoded.clear()
        self.timers.reset(active)
        for pos, key_format in self.feeds.values():
            pos.drop(pos.owned())
            offsets = await pos.end_offsets(active)
            for p in sorted(active):
                first, end = offsets[p]
                stored = self.saved_positions.data.get(key_format % p)
                nxt = first if stored is None else int(stored)
                if nxt < first:
                    log.error(
                        "%s[%d]: messages at offsets %d..%d were deleted by Kafka's retention before they were "
                        "judged; raise the topic's retention above the longest outage",
                        pos.topic, p, nxt, first - 1, extra={"partition": p, "first": nxt, "available": first},
                    )  # fmt: skip
                    nxt = first
                pos.assign(p, nxt, end)
        n = 0
        unbound: list[UnknownVersion] = []
        for stored_state in list(self.cases.data.values()):
            data = orjson.loads(stored_state)
            if data["partition"] in active:
                try:
                    st = state_from_json(self.engine, data)
                except UnknownVersion as e:
                    unbound.append(e)
                    continue
                at = self.wake_at(st)
                if at is not None:
                    self.timers.set(st.partition, st.case_id, at)
                    n += 1
        if unbound:
            raise VersionsDropped(self.engine.pack.source, unbound)
        self.timers.changed.set()
        return n

    def revoked(self, partitions: set[int]) -> None:
        self.decoded.clear()
        self.timers.drop(partitions)
        for pos, _ in self.feeds.values():
            pos.drop(partitions)
