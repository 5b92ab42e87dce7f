"""The Faust worker: events in, records out, every step timed to the second.

One agent consumes two co-partitioned topics: agency events and the worker's
own *ticks*.  Every change to a case — an event applied, a timer fired, a
closed case forgotten — happens in that agent, so a case has one writer, and
its changelog partition is always its events partition.  The agent works in
batches (``take_events``): it judges a batch, sends the batch's records and
waits for Kafka's acknowledgements, then writes the batch's states to the table
and its changelog and waits again; only then are the events acknowledged, so
offsets never run ahead of state, nor state ahead of records.

Timers are not ``app.timer`` callbacks (those run on every worker and drift
when the loop is busy) nor one ``call_at`` per case.  Each worker keeps, per
events partition it owns, a due-index of its cases' next wake-up instants; one
loop sleeps until the earliest, then sends a tick keyed by the case to that
partition.  The indexes are rebuilt from the table when recovery completes
(not on assignment, which comes before recovery) and dropped on revocation —
Flink's model: timers live with state and due ones fire on restore.

Delivery is at least once with deterministic record ids: a record is
acknowledged by Kafka before the state that says it was raised is written, so
a crash can repeat a record (same id) but never lose one or raise a different
one.  Faust's exactly-once mode is not used (faust#517, #323, #502).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import faust
import orjson
from faust.types import TP

from approval_monitor.settings import Settings
from rules.dueindex import DueIndex
from rules.engine import CaseState, Engine, Output, state_from_json, state_to_json
from rules.events import Event, Rejection, parse_line
from rules.live import on_event, on_tick
from rules.pack import RulePack
from rules.records import Record
from streams.faust_app import RAW, new_app
from streams.metrics import PipelineMetrics
from streams.offsets import start_uncommitted_at_earliest

log = logging.getLogger("approval_monitor.worker")


class Timers:
    """Per-partition due-indexes of the cases this worker owns, and the wake-up of the loop that drives them."""

    def __init__(self) -> None:
        self.index: dict[int, DueIndex[str]] = {}
        self.wake_at: dict[str, int] = {}  # case -> its current wake-up instant (index entries may be stale)
        self.owner: dict[str, int] = {}  # case -> partition
        self.changed = asyncio.Event()

    def set(self, partition: int, case_id: str, at: int | None) -> None:
        if at is None:
            self.wake_at.pop(case_id, None)
            self.owner.pop(case_id, None)
            return
        if self.wake_at.get(case_id) == at:
            return
        idx = self.index.get(partition)
        if idx is None:
            idx = self.index[partition] = DueIndex(slot_seconds=60)
        earliest = idx.head
        self.wake_at[case_id] = at
        self.owner[case_id] = partition
        idx.push(at, case_id)
        if at < earliest:
            self.changed.set()

    def reset(self, partitions: Iterable[int]) -> None:
        keep = set(partitions)
        for p in list(self.index):
            if p not in keep:
                self.drop([p])

    def drop(self, partitions: Iterable[int]) -> None:
        gone = set(partitions)
        for p in gone:
            self.index.pop(p, None)
        for case_id in [c for c, p in self.owner.items() if p in gone]:
            del self.owner[case_id]
            self.wake_at.pop(case_id, None)

    def due(self, now: int) -> list[tuple[int, str]]:
        """(partition, case) of every live entry at or before ``now``, removed from the index."""
        out = []
        for p, idx in self.index.items():
            while (entry := idx.pop_before(now + 1)) is not None:
                at, case_id = entry
                if self.wake_at.get(case_id) == at:
                    del self.wake_at[case_id]
                    out.append((p, case_id))
        return out

    def earliest(self) -> int | None:
        heads = [idx.head for idx in self.index.values() if idx.peek() is not None]
        return min(heads) if heads else None

    def __len__(self) -> int:
        return len(self.wake_at)


def create_app(settings: Settings, pack: RulePack, bootstrap: str, metrics: PipelineMetrics | None = None) -> faust.App:
    """The worker's Faust app, wired to ``pack``; start it with ``faust.Worker``."""
    metrics = metrics or PipelineMetrics()
    engine = Engine(pack)
    grace = settings.grace_seconds
    retain = int(settings.retain_days * 86400)
    app = new_app(
        settings.app_id,
        settings,
        bootstrap,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication,
    )
    source = app.topic(settings.events_topic, settings.ticks_topic, **RAW)
    ticks = app.topic(settings.ticks_topic, **RAW)
    cases = app.Table(
        "cases",
        default=None,
        partitions=settings.partitions,
        key_type=bytes,  # bytes types make Faust pick the raw codec for the changelog too
        value_type=bytes,
    )
    start_uncommitted_at_earliest(app, [settings.events_topic, settings.ticks_topic])
    timers = Timers()
    # Decoded states of recently touched cases.  This agent is each case's only
    # writer, so the cache is exact while partitions stay put; it is emptied on
    # every revocation and recovery.
    decoded: OrderedDict[bytes, CaseState] = OrderedDict()
    metrics.watch_lag(app)
    metrics.open_timers.set_function(lambda: len(timers))

    def wake_at(st: CaseState) -> int | None:
        if st.next_due is not None:
            return st.next_due + grace
        if st.closed:
            return st.last_t + retain  # then the case is forgotten
        return None

    class Batch:
        """One batch of stream events: their states, outputs and wake-ups, made durable in that order."""

        def __init__(self) -> None:
            self.states: dict[bytes, tuple[int, CaseState | None]] = {}  # key -> (partition, state; None = forget)
            self.outputs: list[tuple[Output, Any]] = []
            self.timed: list[Record] = []  # raised by a timer: their lateness is measured once acknowledged

        def load(self, key: bytes) -> CaseState | None:
            if key in self.states:
                return self.states[key][1]
            st = decoded.get(key)
            if st is not None:
                decoded.move_to_end(key)
                return st
            stored = cases.get(key)
            return None if stored is None else state_from_json(engine, orjson.loads(stored))

        def event(self, msg: Any, now: int) -> None:
            metrics.events.inc()
            got = parse_line(msg.value or b"", msg.offset)
            if isinstance(got, Rejection):
                self.outputs.append((got, msg))
                return
            assert isinstance(got, Event)
            key = got.case_id.encode()
            if msg.key != key:
                bad = Rejection(
                    msg.offset,
                    got.event_id,
                    got.case_id,
                    "bad_key",
                    f"the message key {msg.key!r} is not the case_id; key every event by its case_id "
                    "so that a case's events stay on one partition, in order",
                    msg.value,
                )
                self.outputs.append((bad, msg))
                return
            st, outputs = on_event(engine, self.load(key), got, now, grace)
            st.partition = msg.partition
            self.outputs.extend((o, msg) for o in outputs)
            self.states[key] = (msg.partition, st)

        def tick(self, msg: Any, now: int) -> None:
            for case_id in orjson.loads(msg.value):
                self.wake(case_id.encode(), msg, now)

        def wake(self, key: bytes, msg: Any, now: int) -> None:
            st = self.load(key)
            if st is None:
                return
            if st.closed and st.next_due is None and st.last_t + retain <= now:
                self.states[key] = (msg.partition, None)
                return
            fired = on_tick(engine, st, now, grace)
            if fired:
                self.outputs.extend((o, None) for o in fired)
                self.timed.extend(o for o in fired if type(o) is Record)
                self.states[key] = (msg.partition, st)
            else:
                timers.set(msg.partition, st.case_id, wake_at(st))

        async def commit(self) -> None:
            """Records acknowledged, then states written and acknowledged; the events are acked after."""
            futures = []
            # Records go straight to the producer: Faust's topic layer (schemas, sensors,
            # future wrappers) cost more per message than judging the event did.
            send = app.producer.send
            for out, msg in self.outputs:
                key = out.case_id.encode() if out.case_id else msg.key
                if type(out) is Record:
                    futures.append(
                        await send(settings.records_topic, key, orjson.dumps(out.to_json()), None, None, None)
                    )
                else:
                    assert isinstance(out, Rejection)
                    futures.append(await send(settings.rejected_topic, key, _rejection(out, msg), None, None, None))
            for fut in futures:
                await fut
            acked = time.time()
            for out, _ in self.outputs:
                if type(out) is Record:
                    metrics.records.labels(out.kind).inc()
                else:
                    metrics.rejected.labels(out.code).inc()
            for rec in self.timed:
                metrics.lateness.observe(max(0.0, acked - (rec.at + grace)))
            futures = []
            changelog = cases.changelog_topic.get_topic_name()
            for key, (partition, st) in self.states.items():
                if st is None:
                    cases.data.pop(key, None)
                    decoded.pop(key, None)
                    futures.append(await send(changelog, key, None, partition, None, None))
                    timers.set(partition, key.decode(), None)
                else:
                    value = orjson.dumps(state_to_json(st))
                    cases.data[key] = value
                    decoded[key] = st
                    decoded.move_to_end(key)
                    futures.append(await send(changelog, key, value, partition, None, None))
                    timers.set(partition, st.case_id, wake_at(st))
            while len(decoded) > settings.state_cache:
                decoded.popitem(last=False)
            for fut in futures:
                await fut

    @app.agent(source)
    async def judge(stream: faust.StreamT[bytes]) -> None:
        async for events in stream.take_events(settings.batch_max, within=settings.batch_seconds):
            now = int(time.time())
            batch = Batch()
            for event in events:
                msg = event.message
                if msg.topic == settings.ticks_topic:
                    batch.tick(msg, now)
                else:
                    batch.event(msg, now)
            await batch.commit()

    @cases.on_recover  # type: ignore[misc]
    async def rebuild() -> None:
        """Recovery is complete: rebuild the due-indexes of the partitions this worker now owns."""
        active = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == settings.events_topic}
        decoded.clear()
        timers.reset(active)
        n = 0
        for _key, stored in list(cases.data.items()):
            data = orjson.loads(stored)
            if data["partition"] in active:
                st = state_from_json(engine, data)
                at = wake_at(st)
                if at is not None:
                    timers.set(st.partition, st.case_id, at)
                    n += 1
        log.info(
            "timers rebuilt: %d cases on partitions %s", n, sorted(active),
            extra={"cases": n, "partitions": sorted(active)},
        )  # fmt: skip
        timers.changed.set()

    @app.on_partitions_revoked.connect  # type: ignore[misc]
    async def on_revoked(sender: Any, revoked: set[TP], **kwargs: Any) -> None:
        decoded.clear()
        timers.drop(tp.partition for tp in revoked if tp.topic == settings.events_topic)

    @app.task  # type: ignore[misc]
    async def drive_timers() -> None:
        """The one loop that turns due instants into ticks for this worker's partitions."""
        while True:
            now = int(time.time())
            due: dict[int, list[str]] = {}
            for partition, case_id in timers.due(now):
                due.setdefault(partition, []).append(case_id)
            for partition, case_ids in due.items():  # one tick per partition names all its due cases
                for i in range(0, len(case_ids), 1000):
                    await ticks.send(key=b"tick", value=orjson.dumps(case_ids[i : i + 1000]), partition=partition)
            earliest = timers.earliest()
            delay = 1.0 if earliest is None else min(1.0, max(0.02, earliest - time.time()))
            timers.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(timers.changed.wait(), timeout=delay)

    return app


def _rejection(r: Rejection, msg: Any) -> bytes:
    body = r.to_json()
    del body["line"]
    body.update(topic=msg.topic, partition=msg.partition, offset=msg.offset, rejected_at=int(time.time()))
    return orjson.dumps(body)
