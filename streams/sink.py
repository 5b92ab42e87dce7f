"""The sink: records, case, 督办 and appeal documents, webhook outcomes into the store, in batches, losing nothing.

Case documents are derived here from the worker's state changelog — which
already carries every case's full state on every change — so the worker
publishes nothing twice and judging stays fast.

A separate Faust app (its own consumer group) so indexing can lag, stop or be
rebuilt without touching the judging workers.  Each fetch (``streams.intake``)
is decoded while the store writes what came before (one write in flight, in
order; fetches that arrive meanwhile are written together by the next,
``streams.group_write``) and is written before its offsets may be committed.
A failed write is retried with capped exponential backoff and jitter until the
store answers — so a store that goes away for a while costs lag, never data,
and nothing is committed that was not written.  Records are idempotent by id
and case documents replace each other, so the repeats a crash can cause change
nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import faust
import orjson

from rules.engine import Engine, state_from_json
from rules.pack import RulePack
from rules.state import UnknownVersion
from rules.views import case_document
from rules.work_views import mark_handled, work_documents
from store.base import Batch, Store
from streams.config import Kafka, Pipeline, Topics
from streams.faust_app import RAW, new_app
from streams.group_write import GroupWriter
from streams.index_watch import IndexWatch
from streams.intake import use_intake
from streams.metrics import PipelineMetrics
from streams.offsets import start_uncommitted_at_earliest
from streams.retry import RetryPolicy, until_done
from streams.trail import Trail

log = logging.getLogger("approval_monitor.sink")
STORE_RETRY = RetryPolicy(backoff=0.2, cap=30.0)


def _documents(engine: Engine, value: bytes, now: int) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """A case's document and its 督办 and appeal documents; no case document while the sink's rule pack lacks the
    version the case bound (the worker refuses such a pack, naming the cases; the sink goes on indexing records)."""
    try:
        st = state_from_json(engine, orjson.loads(value))
    except UnknownVersion as e:
        log.error("no case document: %s", e, extra={"case_id": e.case_id, "item_code": e.code})
        return None, []
    doc = case_document(st, now)
    if doc is not None and st.work is not None and st.work.acks:
        mark_handled(doc, st.work)
    return doc, work_documents(st)


@dataclass(slots=True)
class Fetch:
    """One fetch, decoded: what the store is to hold of it."""

    records: list[tuple[int, dict[str, Any]]]  # (partition, record): the trail links each partition's in order
    cases: list[dict[str, Any]]
    work: list[dict[str, Any]]
    deliveries: list[dict[str, Any]]

    @staticmethod
    def joined(fetches: list[Fetch]) -> Fetch:
        """Fetches in the order they came, as one: a later case or entry replaces an earlier one when stored."""
        if len(fetches) == 1:
            return fetches[0]
        return Fetch(
            [r for f in fetches for r in f.records],
            [c for f in fetches for c in f.cases],
            [w for f in fetches for w in f.work],
            [d for f in fetches for d in f.deliveries],
        )


def _decode(engine: Engine, topics: Topics, messages: list[Any], now: int) -> Fetch:
    records: list[tuple[int, dict[str, Any]]] = []
    deliveries: dict[str, dict[str, Any]] = {}  # by id: a later outcome replaces an earlier one
    states: dict[bytes, bytes] = {}  # a case's latest state in the fetch: earlier ones are never decoded
    for msg in messages:
        if msg.value is None:
            continue
        if msg.topic == topics.records:
            records.append((msg.partition, orjson.loads(msg.value)))
        elif msg.topic == topics.deliveries:
            entry = orjson.loads(msg.value)
            deliveries[entry["id"]] = entry
        else:
            states[msg.key] = msg.value
    cases: list[dict[str, Any]] = []
    work: list[dict[str, Any]] = []
    for value in states.values():
        doc, docs = _documents(engine, value, now)
        if doc is not None:
            cases.append(doc)
        work += docs
    return Fetch(records, cases, work, list(deliveries.values()))


def create_sink_app(
    topics: Topics,
    kafka: Kafka,
    pipeline: Pipeline,
    pack: RulePack,
    store: Store,
    metrics: PipelineMetrics | None = None,
    utc_offset: int = 8 * 3600,
) -> faust.App:
    metrics = metrics or PipelineMetrics()
    app = new_app(f"{topics.app_id}-sink", kafka, broker_max_poll_records=pipeline.batch_max)
    inputs = [topics.records, topics.cases_changelog, topics.deliveries]
    # Not acked through Faust: each fetch is written, then its offsets are committed (streams.intake).
    source = app.topic(*inputs, acks=False, **RAW)
    start_uncommitted_at_earliest(app, inputs)
    engine = Engine(pack)
    metrics.watch_lag(app)
    anchors = app.topic(topics.anchors, **RAW)
    trail = Trail(store, lambda value: anchors.send(value=value), pipeline.anchor_seconds)
    lock = asyncio.Lock()

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(sender: Any, revoked: set[Any], **kwargs: Any) -> None:
        await writer.settle()  # all fetched is stored (and linked) before another sink may take its partitions
        async with lock:
            trail.forget()
            group.forget(revoked)  # written but not yet committed: the next owner writes it again (idempotent)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(sender: Any, assigned: set[Any], **kwargs: Any) -> None:
        trail.forget()

    async def durably(what: str, write: Any) -> None:
        """Any store failure is retried, never dropped: lag, not loss, while the store is away."""
        await until_done(f"store write of {what}", write, STORE_RETRY, log, metrics.sink_failures.inc)

    @app.task  # type: ignore[untyped-decorator]
    async def setup_store() -> None:
        await durably("the schema", store.setup)

    records_out = app.topic(topics.records, **RAW)
    watch = IndexWatch(store, lambda key, value: records_out.send(key=key, value=value), pipeline.index, utc_offset)

    @app.timer(pipeline.index.every_seconds)  # type: ignore[untyped-decorator]
    async def watch_indices() -> None:
        """This month's five-colour indices: an agency turning yellow, orange or red raises an index alarm."""
        try:
            await watch.check()
        except Exception as e:  # the store away: the next look will do
            log.warning("could not look at this month's indices: %r", e)

    async def index(messages: list[Any]) -> None:
        """One fetch: decoded while the store writes what came before (its thread runs SQLite without the GIL),
        then written with whatever else arrived meanwhile (retried until it is), and only then may its offsets be
        committed."""
        await writer.put((_decode(engine, topics, messages, int(time.time())), messages), len(messages))

    async def write(fetches: list[tuple[Fetch, list[Any]]]) -> None:
        async with lock:
            await store_fetch(Fetch.joined([f for f, _ in fetches]))
            await trail.anchor()
            for _, messages in fetches:
                group.done_with(messages)

    writer = GroupWriter(write, most=pipeline.sink_write_max)

    group = use_intake(app, source, index)

    async def store_fetch(fetch: Fetch) -> None:
        """One write for the whole fetch (one transaction on SQLite): the writing thread never waits for the event
        loop, busy decoding the next fetch, between one kind of document and the next."""
        await durably("the trail's heads", trail.ready)
        batch = Batch(
            [r for _, r in fetch.records], trail.linker(fetch.records), fetch.cases, fetch.work, fetch.deliveries
        )
        what = (
            f"{len(fetch.records)} records, {len(fetch.cases)} case documents, {len(fetch.work)} 督办 and appeal "
            f"documents and {len(fetch.deliveries)} delivery log entries"
        )
        await durably(what, lambda: store.put_batch(batch))
        metrics.sink_written.labels("records").inc(len(fetch.records))
        metrics.sink_written.labels("deliveries").inc(len(fetch.deliveries))
        metrics.sink_written.labels("cases").inc(len(fetch.cases))

    return app
