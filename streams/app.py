"""The Faust worker: events in, records out, every step timed to the second.

One intake (``streams.intake``) consumes three co-partitioned topics, a fetch
at a time: agency events, the actions of supervisors and agencies (from the
API), and the worker's own *ticks*.  Every change to a case — an event applied,
an action, a timer fired, a closed case forgotten — happens in its handler
(``streams.judging``), so a case has one writer, and its changelog partition is
always its events partition.

What Faust provides here: the consumer group and its rebalancing, the
changelog-backed tables (in memory or RocksDB: ``streams.local_tables``) and
their recovery.  What it does not decide: where reading resumes.  The worker's
own positions (``streams.positions``) are kept in a second table beside the
case states, so an event is judged exactly when its position says so, whatever
Faust's fetcher and committed offsets did; the group's offsets are committed
from them once a second.

Timers (``streams.timers``): one loop per worker sends a tick to a partition
for its due cases; a partition's timers wait until it has caught up with the
backlog it had when it was assigned, so a restart never raises a record that a
completion already waiting in Kafka disproves.  The due-indexes are rebuilt
from the table when recovery completes (not on assignment, which comes first)
and dropped on revocation — Flink's model: timers live with state and due ones
fire on restore.  ``app.timer`` (runs on every worker, drifts when the loop is
busy) and one ``call_at`` per case are deliberately not used.

Delivery is at least once with deterministic record ids.  Faust's exactly-once
mode is not used (it still duplicates after kills and rebalances: faust#517,
#323, #502).  A batch Kafka will not take stops the process (exit code 70)
before its position is saved: judged again after a restart, never skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import Any, NoReturn

import faust
import orjson
from faust.types import TP

from rules.coverage import warnings as coverage_warnings
from rules.engine import Engine
from rules.pack import RulePack
from streams.config import Kafka, Pipeline, Topics
from streams.faust_app import RAW, new_app
from streams.intake import use_intake
from streams.judging import Judge, JudgeConfig, VersionsDropped
from streams.local_tables import ROCKSDB_OPTIONS
from streams.memory_store import store_url
from streams.metrics import PipelineMetrics
from streams.offsets import start_uncommitted_at_earliest
from streams.positions import Positions
from streams.recovery_watch import watch_recovery

log = logging.getLogger("approval_monitor.worker")

EXIT_NOT_DURABLE = 70  # EX_SOFTWARE: the batch was not made durable; a restart judges it again
EXIT_CONFIG = 78  # EX_CONFIG: the rule pack lacks versions running cases bound


def create_app(
    topics: Topics, kafka: Kafka, pipeline: Pipeline, pack: RulePack, metrics: PipelineMetrics | None = None
) -> faust.App:
    """The worker's Faust app, wired to ``pack``; start it with ``faust.Worker``."""
    metrics = metrics or PipelineMetrics()
    metrics.watch_calendars(pack)
    for warning in coverage_warnings(pack, int(time.time())):
        log.warning("%s", warning, extra={"rules": pack.source})
    app = new_app(
        topics.app_id,
        kafka,
        topic_partitions=topics.partitions,
        producer_max_request_size=topics.rejected_max_bytes,
        broker_max_poll_records=pipeline.batch_max,  # one fetch is one batch (streams.intake)
        producer_max_batch_size=256 * 1024,  # a batch's states go out as record batches (streams.outbox)
        # The app's default, not each table's ``store=``: a table's URL without a host (``rocksdb://``) is false
        # to yarl, and Faust then silently takes the app's default instead.
        store=store_url(pipeline.table_store),
    )
    # Not acked through Faust: the worker's positions say what is judged, and it commits them itself.
    source = app.topic(topics.events, topics.ticks, topics.actions, acks=False, **RAW)
    ticks = app.topic(topics.ticks, **RAW)
    # bytes types make Faust pick the raw codec for the changelogs too
    local: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "partitions": topics.partitions}
    if pipeline.table_store == "rocksdb":
        local["options"] = ROCKSDB_OPTIONS
    cases = app.Table("cases", default=None, **local)
    # Per events partition, the first offset not yet judged (``streams.positions``).
    saved_positions = app.Table("positions", default=None, **local)
    start_uncommitted_at_earliest(app, [topics.events, topics.ticks, topics.actions])
    watch_recovery(app)
    positions = Positions(topics.events, kafka.bootstrap, topics.app_id, topics.rejected_max_bytes)
    action_positions = Positions(topics.actions, kafka.bootstrap, f"{topics.app_id}-actions", topics.rejected_max_bytes)
    judge = Judge(
        app,
        Engine(pack),
        cases,
        saved_positions,
        positions,
        metrics,
        JudgeConfig(
            ticks_topic=topics.ticks,
            records_topic=topics.records,
            rejected_topic=topics.rejected,
            grace=pipeline.grace_seconds,
            retain_seconds=int(pipeline.retain_days * 86400),
            state_cache=pipeline.state_cache,
            max_event_bytes=pipeline.max_event_bytes,
            rejected_max_bytes=topics.rejected_max_bytes,
        ),
        action_positions,
    )
    timers = judge.timers
    lock = asyncio.Lock()  # one batch at a time, and none while partitions are being revoked
    metrics.watch_lag(app)
    metrics.open_timers.set_function(lambda: len(timers))
    metrics.catching_up.set_function(lambda: len(positions.target) + len(action_positions.target))

    async def judge_fetch(messages: list[Any]) -> None:
        async with lock:
            try:
                await judge.run(messages)
            except Exception as e:
                _stop(e)
            # Ticks have no positions: once judged (or held, rebuilt from the states after a restart) they are
            # done, and a restarted worker does not read them all again.
            group.done_with(m for m in messages if m.topic == topics.ticks)

    def read_positions() -> dict[TP, int]:
        """The group resumes at the worker's positions.  Only a shortcut: a consumer that starts elsewhere is
        corrected by ``Judge.run`` (skip or read directly) and by the stall watcher, so a failed commit costs
        time, never an event."""
        return {TP(pos.topic, p): off for pos in (positions, action_positions) for p, off in pos.next.items()}

    group = use_intake(app, source, judge_fetch, resume_at=read_positions)

    @cases.on_recover
    async def rebuild() -> None:
        """Recovery is complete: positions, catch-up targets and due-indexes of the partitions now owned."""
        active = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topics.events}
        async with lock:
            try:
                n = await judge.recovered(active)
            except VersionsDropped as e:
                _refuse(e)
        # Outside the lock, and bounded: a commit waits for any rebalance that has begun, and that
        # rebalance's revocation waits for the lock.
        await group.commit()
        log.info(
            "timers rebuilt: %d cases on partitions %s; catching up on %s", n, sorted(active), judge.catching_up(),
            extra={"cases": n, "partitions": sorted(active),
                   "catching_up": {t: {str(p): o for p, o in c.items()} for t, c in judge.catching_up().items()}},
        )  # fmt: skip

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(sender: Any, revoked: set[TP], **kwargs: Any) -> None:
        async with lock:  # a batch in flight finishes before another worker may take its partitions
            judge.revoked({tp.partition for tp in revoked if tp.topic == topics.events})
            group.forget(revoked)

    async def send_ticks(now: int, marks: dict[int, dict[str, int]]) -> None:
        due: dict[int, list[str]] = {}
        for partition, case_id in timers.due(now, lambda p: p in marks and judge.live(p)):
            due.setdefault(partition, []).append(case_id)
        for partition, case_ids in due.items():  # one tick per partition names all its due cases
            for i in range(0, len(case_ids), 1000):
                value = orjson.dumps({"cases": case_ids[i : i + 1000], "after": marks[partition]})
                await ticks.send(key=b"tick", value=value, partition=partition)

    @app.task  # type: ignore[untyped-decorator]
    async def drive_timers() -> None:
        """The one loop that turns due instants into ticks for this worker's caught-up partitions."""
        while True:
            now = int(time.time())
            earliest = timers.earliest(judge.live)
            if earliest is not None and earliest <= now:
                try:
                    # Where each input ends now: a tick fires once everything before it is judged, so an event
                    # that reached Kafka before the tick was sent is always applied first (streams.judging).
                    marks = await judge.watermarks(sorted(timers.index))
                except Exception as e:  # Kafka away: the due cases stay in the index until the next round
                    log.warning("could not read the inputs' end offsets for ticks: %r", e)
                    marks = None
                if marks is not None:
                    await send_ticks(now, marks)
                earliest = timers.earliest(judge.live)
            delay = 1.0 if earliest is None else min(1.0, max(0.02, earliest - time.time()))
            timers.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(timers.changed.wait(), timeout=delay)

    @app.task  # type: ignore[untyped-decorator]
    async def watch_catch_up() -> None:
        """Partitions whose consumer stalls below their catch-up target are read directly."""
        while True:
            await asyncio.sleep(0.5)
            judge.chase_held_ticks(after=pipeline.catch_up_stall_seconds)
            stalled = judge.stalled(after=pipeline.catch_up_stall_seconds)
            while stalled:  # a chunk at a time, the lock released in between: timers and the intake go on
                for topic, partition in list(stalled):
                    async with lock:
                        try:
                            if not await judge.catch_up(topic, partition, pipeline.batch_max):
                                stalled.remove((topic, partition))
                        except Exception as e:
                            _stop(e)
                    await asyncio.sleep(0)

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def close_reader(sender: Any, **kwargs: Any) -> None:
        await positions.close()
        await action_positions.close()

    return app


def _refuse(e: VersionsDropped) -> NoReturn:
    """Running cases would be judged by rules they were not submitted under: refuse the pack, never re-time them."""
    log.critical("%s", e, extra={"cases": [c.case_id for c in e.cases[:1000]]})
    logging.shutdown()
    os._exit(EXIT_CONFIG)


def _stop(e: BaseException) -> NoReturn:
    """Kafka did not take a batch's output: stop before its position is saved, so it is judged again."""
    log.critical(
        "a batch could not be made durable (%s: %s); stopping without saving its position so that a restarted "
        "worker judges it again — check that Kafka is reachable and accepts the worker's messages",
        type(e).__name__, e, exc_info=e,
    )  # fmt: skip
    logging.shutdown()
    os._exit(EXIT_NOT_DURABLE)
