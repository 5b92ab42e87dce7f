"""Records and case documents flow from the worker through Kafka into a store, and survive the store going away."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import ElasticNode
from support.live import Names, Worker, future_history, future_pack, line_object, proven_records, wait_judged

from approval_monitor.embedded import free_port
from store.base import RecordQuery
from store.elastic import ElasticStore
from store.sqlite import SqliteStore
from streams.emitter import Emitter

pytestmark = pytest.mark.kafka


def _all_records(store: Any) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        await store.refresh()
        out, cursor = [], None
        while True:
            page = await store.search_records(RecordQuery(limit=500, cursor=cursor))
            out += page.items
            if page.next_cursor is None:
                return out
            cursor = page.next_cursor

    return asyncio.run(go())


def _metrics(port: int) -> dict[str, float]:
    """A process's Prometheus text exposition as {sample with labels: value}."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def _wait(pred: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(1)
    raise AssertionError("timed out")


def test_worker_and_sink_fill_the_sqlite_store(kafka_bootstrap: str, tmp_path: Path) -> None:
    names = Names(partitions=4)
    db = tmp_path / "monitor.db"
    env = {**names.env(kafka_bootstrap, future_pack()), "APPROVAL_MONITOR_STORE_URL": f"sqlite:///{db}"}
    ports = {"worker": free_port(), "sink": free_port()}
    worker = Worker({**env, "APPROVAL_MONITOR_METRICS_PORT": str(ports["worker"])}, tmp_path / "worker.log").start()
    sink = Worker({**env, "APPROVAL_MONITOR_METRICS_PORT": str(ports["sink"])}, tmp_path / "sink.log").start("sink")
    try:
        worker.wait_ready()
        lines = future_history(cases=40)
        expected = proven_records(lines)
        with Emitter(kafka_bootstrap, names.events) as emitter:
            sent = sum(r.ok for r in emitter.send_many([line_object(x) for x in lines]))

        def count() -> int:
            s = SqliteStore(db)
            try:
                return len(_all_records(s)) if db.exists() else 0
            finally:
                asyncio.run(s.close())

        _wait(lambda: count() >= len(expected), timeout=90)
        s = SqliteStore(db)
        got = _all_records(s)
        assert sorted(r["id"] for r in got) == sorted(r["id"] for r in expected)  # no loss, no duplicates
        case_id = expected[0]["case_id"]
        doc = asyncio.run(s.get_case(case_id))
        asyncio.run(s.close())
        assert (
            doc is not None
            and doc["steps"]
            and {r["id"] for r in doc["records"]} == {r["id"] for r in expected if r["case_id"] == case_id}
        )
        # What the two processes say about themselves on /metrics agrees with what they did.
        time.sleep(3)  # Faust's monitor learns committed offsets on its next commit
        worker_metrics = _metrics(ports["worker"])
        by_kind = Counter(r["kind"] for r in expected)
        for kind, n in by_kind.items():
            assert worker_metrics[f'approval_records_total{{kind="{kind}"}}'] == n
        assert worker_metrics["approval_events_total"] == sent  # each event read once: no crash, no rebalance
        assert any(k.startswith("approval_consumer_lag{") for k in worker_metrics)
        sink_metrics = _metrics(ports["sink"])
        assert sink_metrics['approval_sink_written_total{what="records"}'] == len(expected)
        assert sink_metrics["approval_sink_failures_total"] == 0
    finally:
        worker.kill(signal.SIGTERM)
        sink.kill(signal.SIGTERM)


def test_a_sink_killed_while_it_writes_a_backlog_loses_nothing_and_repeats_nothing(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """SIGKILL in the first second, then twice the moment the store grows (amid the backlog, its offsets not yet
    committed): each fetch is written before its offsets are committed, so what a killed sink had not written is
    written by the next, and what it wrote twice is there once (records by id, the trail unbroken, the roll-ups
    equal to the records)."""
    from store.verify import verify_store

    names = Names(partitions=4)
    db = tmp_path / "monitor.db"
    # Writes of a fetch or two (not the whole backlog grouped into one), so that a kill can land amid them.
    env = {**names.env(kafka_bootstrap, future_pack()), "APPROVAL_MONITOR_STORE_URL": f"sqlite:///{db}",
           "APPROVAL_MONITOR_SINK_WRITE_MAX": "500"}  # fmt: skip
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        lines = future_history(cases=1500)
        expected = proven_records(lines)
        with Emitter(kafka_bootstrap, names.events) as emitter:
            emitter.send_many([line_object(x) for x in lines])
        wait_judged(kafka_bootstrap, names)  # the whole backlog is in Kafka before the sink first starts

        def stored() -> int:
            if not db.exists():
                return 0
            with contextlib.closing(sqlite3.connect(db, timeout=30)) as c:
                try:
                    return int(c.execute("SELECT count(*) FROM records").fetchone()[0])
                except sqlite3.OperationalError:  # the schema not made yet
                    return 0

        sink = Worker(env, tmp_path / "sink.log").start("sink")
        time.sleep(0.7)  # the first second: starting, joining the group
        sink.kill()
        written = [stored()]
        for _ in range(2):  # then as soon as the store grows: amid the backlog
            sink = Worker(env, tmp_path / "sink.log").start("sink")
            before, deadline = written[-1], time.monotonic() + 90
            while stored() == before and time.monotonic() < deadline:
                time.sleep(0.05)
            sink.kill()
            written.append(stored())
        assert any(0 < n < len(expected) for n in written), written  # some kill landed amid the backlog
        store = SqliteStore(db, day_offset=8 * 3600)  # the sink's (UTC+8 days): another offset rebuilds the roll-ups
        sink = Worker(env, tmp_path / "sink.log").start("sink")
        try:
            _wait(lambda: len(_all_records(store)) >= len(expected), timeout=120)
            time.sleep(2)  # anything written twice would show now
            got = _all_records(store)
            assert len(got) == len(expected)
            assert sorted(r["id"] for r in got) == sorted(r["id"] for r in expected)
            report = asyncio.run(verify_store(store, []))
            assert report["ok"], [f["detail"] for f in report["findings"]][:5]
        finally:
            sink.kill(signal.SIGTERM)
            asyncio.run(store.close())
    finally:
        worker.kill(signal.SIGTERM)


def test_sink_survives_elasticsearch_going_away(
    kafka_bootstrap: str, elastic_node: ElasticNode, tmp_path: Path
) -> None:
    """The real node is stopped mid-stream and started again on the same data and port: every record lands once."""
    if elastic_node.home is None:
        pytest.skip("ELASTICSEARCH_URL names an external cluster, which this test may not stop")
    url = elastic_node.url
    names = Names(partitions=4)
    prefix = f"outage{os.getpid()}"
    env = {
        **names.env(kafka_bootstrap, future_pack()),
        "APPROVAL_MONITOR_STORE_URL": url,
        "APPROVAL_MONITOR_STORE_PREFIX": prefix,
    }
    worker = Worker(env, tmp_path / "worker.log").start()
    sink = Worker(env, tmp_path / "sink.log").start("sink")
    running = True
    try:
        worker.wait_ready()
        lines = future_history(cases=60)
        expected = proven_records(lines)
        half = len(lines) // 2
        with Emitter(kafka_bootstrap, names.events) as emitter:
            emitter.send_many([line_object(x) for x in lines[:half]])
            time.sleep(6)
            elastic_node.stop()
            running = False
            emitter.send_many([line_object(x) for x in lines[half:]])  # the store is down meanwhile
        time.sleep(8)
        assert "retrying" in (tmp_path / "sink.log").read_text(errors="replace")
        elastic_node.start()
        running = True

        def count() -> int:
            store = ElasticStore(url, prefix=prefix)
            try:
                return len(_all_records(store))
            except Exception:  # not ready yet
                return 0

        _wait(lambda: count() >= len(expected), timeout=120)
        time.sleep(3)
        got = _all_records(ElasticStore(url, prefix=prefix))
        assert sorted(r["id"] for r in got) == sorted(r["id"] for r in expected)
    finally:
        worker.kill(signal.SIGTERM)
        sink.kill(signal.SIGTERM)
        if not running:
            elastic_node.start()  # the rest of the run uses this node
