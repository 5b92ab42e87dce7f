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

from rules.engine import CaseState, Engine, state_from_json, state_to_json
from rules.errors import BadInput
from rules.planning import plan_id
from rules.state import UnknownVersion, bound_item
from streams.batch import Batch, parse_tick
from streams.local_tables import LocalTable
from streams.metrics import PipelineMetrics
from streams.outbox import Outbox, of_topic
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
        self._outbox: Outbox | None = None  # made on first use: the producer exists once the app has started
        self.engine = engine
        self.cases = LocalTable(cases)
        self.saved_positions = LocalTable(saved_positions)
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
        self.plan_id = plan_id(engine.pack)
        self.last_input = time.monotonic()  # when the consumer last handed over a batch
        self.reported_stall: set[tuple[str, int]] = set()  # partitions being read directly: warned once
        # Ticks waiting for their inputs to be judged: (partition, cases, end offsets when sent, held since).
        self.held: list[tuple[int, list[str], dict[str, int], float]] = []

    def wake_at(self, st: CaseState) -> int | None:
        return self._wake(st.due, st.closed, st.awaiting, st.last_t)

    def _wake(self, due: int | None, closed: bool, awaiting: bool, last_t: int) -> int | None:
        if due is not None:
            return due + self.conf.grace
        if closed and not awaiting:
            return last_t + self.conf.retain_seconds  # then the case is forgotten
        return None

    def stored_wake(self, data: dict[str, Any]) -> int | None:
        """A stored state's wake-up instant: from the hint stored beside it when the pack and planning are the
        ones it was planned under (a restart with a million cases then decodes none of them), else re-planned.
        Raises ``UnknownVersion`` when the pack lacks the version the case bound, either way."""
        hint = data.get("wake")
        if hint is None or self.plan_id is None or hint[2] != self.plan_id:
            return self.wake_at(state_from_json(self.engine, data))
        bound_item(self.engine, data)
        return self._wake(hint[0], data["item"] is None or data["completed"] is not None, hint[1], data["last_t"])

    def stored(self, st: CaseState) -> bytes:
        """A state as the table keeps it, with its wake-up hint; an exact-size copy, because orjson's result keeps
        its whole output buffer (about 4 KiB for a 300-byte state) and the memory table holds one per open case."""
        data = state_to_json(st)
        if self.plan_id is not None:
            data["wake"] = [st.due, st.awaiting, self.plan_id]
        return bytes(memoryview(orjson.dumps(data)))

    def live(self, partition: int) -> bool:
        """Owned and caught up on every input: its timers may fire on the wall clock."""
        for pos, _ in self.feeds.values():  # noqa: SIM110 - called per message: no generator
            if partition not in pos.next or partition in pos.target:
                return False
        return True

    def catching_up(self) -> dict[str, dict[int, int]]:
        return {topic: pos.catching_up() for topic, (pos, _) in self.feeds.items() if pos.target}

    def load_stored(self, key: bytes, partition: int) -> CaseState | None:
        stored = self.cases.get(key, partition)
        return None if stored is None else state_from_json(self.engine, orjson.loads(stored))

    # -- batches ------------------------------------------------------------------------
    async def run(self, msgs: list[Any]) -> None:
        """Judge the messages of one batch from the consumer, in order, and make it durable."""
        batch = Batch(self, int(time.time()))
        self.last_input = time.monotonic()
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
                self.hold(msg)
        self._fire_ready_ticks(batch)
        batch.fire_wall_clock()
        await batch.commit()
        await self.save_positions()

    async def catch_up(self, topic: str, partition: int, chunk: int) -> bool:
        """Read up to ``chunk`` messages below a stalled partition's target directly and judge them; True while
        some are left (the caller comes back for them), False once the partition is caught up."""
        pos = self.feeds[topic][0]
        target = pos.target.get(partition)
        if target is None:
            return False
        start = pos.next[partition]
        stop = min(target, start + chunk)
        missed = await pos.read(partition, start, stop)
        if missed:
            first_chunk = (topic, partition) not in self.reported_stall
            self.reported_stall.add((topic, partition))
            log.log(
                logging.WARNING if first_chunk else logging.DEBUG,
                "%s[%d] made no progress below its end offset %d; reading offsets %d.. directly",
                topic, partition, target, start,
                extra={"topic": topic, "partition": partition, "first": start, "target": target},
            )  # fmt: skip
            self.metrics.direct_reads.inc(len(missed))
            batch = Batch(self, int(time.time()))
            for rec in missed:
                self._judge(batch, rec, pos)
            self._fire_ready_ticks(batch)
            batch.fire_wall_clock()
            await batch.commit()
            await self.save_positions()
        if stop < target and partition in pos.target:
            return True
        self.reported_stall.discard((topic, partition))
        pos.caught_up(partition)
        self.timers.changed.set()
        return False

    async def watermarks(self, partitions: list[int]) -> dict[int, dict[str, int]]:
        """Per partition, each input's end offset now: what a tick sent now must wait to be judged."""
        ends = {topic: await pos.end_offsets_now(partitions) for topic, (pos, _) in self.feeds.items()}
        return {p: {topic: offsets[p] for topic, offsets in ends.items()} for p in partitions}

    def _fire_ready_ticks(self, batch: Batch) -> None:
        """Ticks whose inputs are judged up to where they ended when the tick was sent: fired now, in this batch.

        The tick waits for the events (and actions) already in Kafka when it was sent, whichever order the
        consumer fetched the topics in: a completion that reached Kafka before its deadline plus the grace is
        applied before the overdue could be raised, however far behind the consumer is.
        """
        waiting = []
        for partition, cases, after, since in self.held:
            if partition not in self.positions.next:
                continue  # given away: its next owner rebuilds the timers from the states
            if self.live(partition) and all(
                self.feeds[topic][0].next.get(partition, 0) >= offset for topic, offset in after.items()
            ):
                for case_id in cases:
                    batch.wake(case_id.encode(), partition)
            else:
                waiting.append((partition, cases, after, since))
        self.held = waiting

    def hold(self, msg: Any) -> None:
        partition, cases, after = parse_tick(msg)
        self.held.append((partition, cases, after, time.monotonic()))

    def _patience(self, after: float) -> float:
        """``after`` while the consumer is idle, ten times that while it is busy (it serves one partition's
        fetched records at a time, so a partition may wait its turn)."""
        return after if time.monotonic() - self.last_input >= after else 10 * after

    def chase_held_ticks(self, after: float) -> None:
        """A tick held that long for offsets the consumer does not deliver: its partition is to be read up to them
        directly, as a partition catching up is (its timers wait meanwhile, as they do while catching up)."""
        now, patience = time.monotonic(), self._patience(after)
        for partition, _, marks, since in self.held:
            if now - since >= patience:
                for topic, offset in marks.items():
                    pos = self.feeds[topic][0]
                    if pos.next.get(partition, offset) < offset and partition not in pos.target:
                        pos.target[partition] = offset

    def stalled(self, after: float) -> list[tuple[str, int]]:
        """Partitions catching up that the consumer has not served for ``after`` seconds while it was idle, or
        for ten times that however busy it was."""
        patience = self._patience(after)
        return [(topic, p) for topic, (pos, _) in self.feeds.items() for p in pos.stalled(patience)]

    def _judge(self, batch: Batch, msg: Any, pos: Positions) -> None:
        if pos.place(msg.partition, msg.offset) == SKIP:
            return
        if pos is self.positions:
            batch.event(msg)
        else:
            batch.action(msg)
        if pos.advance(msg.partition, msg.offset) and self.live(msg.partition):
            self.timers.changed.set()

    @property
    def outbox(self) -> Outbox:
        """One for the worker's life: it learns each topic's partitions once, not once a batch."""
        if self._outbox is None:
            self._outbox = Outbox(self.app.producer._ensure_producer())
        return self._outbox

    async def save_positions(self) -> None:
        table = self.saved_positions
        box = self.outbox
        writes = []
        for pos, key_format in self.feeds.values():
            for p, offset in pos.take_changed().items():
                key, value = key_format % p, b"%d" % offset
                writes.append((key, p, value))
                box.add(table.changelog, p, key, value)
        if not writes:
            return
        written = of_topic(await box.send(), table.changelog)
        for key, p, value in writes:
            table.put(key, p, value)
        table.written(written)

    # -- ownership ----------------------------------------------------------------------
    async def recovered(self, active: set[int]) -> int:
        """Recovery is complete: positions, catch-up targets and due-indexes of ``active`` partitions."""
        self.decoded.clear()
        self.held = []
        self.timers.reset(active)
        for pos, key_format in self.feeds.values():
            pos.drop(pos.owned())
            offsets = await pos.end_offsets(active)
            for p in sorted(active):
                first, end = offsets[p]
                stored = self.saved_positions.get(key_format % p, p)
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
        for stored_state in self.cases.values(active):
            data = orjson.loads(stored_state)
            if data["partition"] in active:
                try:
                    at = self.stored_wake(data)
                except UnknownVersion as e:
                    unbound.append(e)
                    continue
                if at is not None:
                    self.timers.set(data["partition"], data["case_id"], at)
                    n += 1
        if unbound:
            raise VersionsDropped(self.engine.pack.source, unbound)
        self.timers.changed.set()
        return n

    def revoked(self, partitions: set[int]) -> None:
        self.decoded.clear()
        self.held = [t for t in self.held if t[0] not in partitions]
        self.timers.drop(partitions)
        for pos, _ in self.feeds.values():
            pos.drop(partitions)
