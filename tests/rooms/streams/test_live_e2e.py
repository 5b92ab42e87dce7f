"""End to end through real Kafka: emitter -> topic -> Faust worker -> records and rejected topics.

The history is set in the future, so the wall clock raises nothing during the
test and every record is proven by the events alone: live must then equal
replay exactly — same ids, same instants.  Every case completes, so replay's
``--until`` cannot matter either.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from support import SAMPLE_PACK
from support.live import Names, Worker, future_history, future_pack, line_object, proven_records, raw_producer, wait_for

from streams.emitter import Emitter

pytestmark = pytest.mark.kafka


def test_emitted_events_come_out_as_the_records_replay_computes(kafka_bootstrap: str, tmp_path: Path) -> None:
    names = Names(partitions=4)
    worker = Worker(names.env(kafka_bootstrap, future_pack()), tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        lines = future_history(cases=80)
        expected = proven_records(lines)
        assert len(expected) > 100
        with Emitter(kafka_bootstrap, names.events) as emitter:
            results = emitter.send_many([line_object(x) for x in lines])
        refused = [r for r in results if not r.ok]
        assert refused and all(r.code != "send_failed" for r in refused)  # malformed lines never left the emitter
        got = wait_for(kafka_bootstrap, names.records, lambda rs: len({r["id"] for r in rs}) >= len(expected))
        live = {(r["id"], r["at"], r["kind"]) for r, _, _ in got}
        assert live == {(r["id"], r["at"], r["kind"]) for r in expected}
        assert all(rec["case_id"].encode() for rec, _, _ in got)
    finally:
        worker.kill()


def test_bad_messages_land_on_the_rejected_topic_and_the_worker_goes_on(kafka_bootstrap: str, tmp_path: Path) -> None:
    names = Names(partitions=2)
    worker = Worker(names.env(kafka_bootstrap, SAMPLE_PACK), tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        producer = raw_producer(kafka_bootstrap)
        bad = [
            (b"K1", b"{not json"),
            (b"K2", orjson.dumps({"event_id": "x2", "type": "case_submitted", "occurred_at": now})),
            (
                b"K3",
                orjson.dumps(
                    {"event_id": "x3", "case_id": "K3", "type": "step_started", "step": "accept", "occurred_at": now}
                ),
            ),
            (b"WRONG", orjson.dumps({"event_id": "x4", "case_id": "K4", "type": "case_completed", "occurred_at": now})),
        ]
        for key, value in bad:
            producer.send(names.events, key=key, value=value)
        # ... and then a good case that starts a step out of order: a procedure record, raised at once.
        good = [
            {
                "event_id": "g1",
                "case_id": "G1",
                "type": "case_submitted",
                "item_code": "business-licence",
                "agency_id": "city/market",
                "occurred_at": now,
            },
            {"event_id": "g2", "case_id": "G1", "type": "step_started", "step": "review", "occurred_at": now},
        ]
        for obj in good:
            producer.send(names.events, key=b"G1", value=orjson.dumps(obj))
        producer.flush()
        producer.close()
        rejected = wait_for(kafka_bootstrap, names.rejected, lambda rs: len(rs) >= 4, timeout=30)
        codes = {r["code"] for r, _, _ in rejected}
        assert codes == {"bad_json", "missing_field", "unknown_case", "bad_key"}
        for r, _, _ in rejected:
            assert r["reason"] and r["raw"] and r["topic"] == names.events
            assert isinstance(r["partition"], int) and isinstance(r["offset"], int)
        records = wait_for(
            kafka_bootstrap, names.records, lambda rs: any(r["kind"] == "procedure" for r in rs), timeout=30
        )
        assert [r["case_id"] for r, _, _ in records if r["kind"] == "procedure"] == ["G1"]
        assert worker.proc is not None and worker.proc.poll() is None
    finally:
        worker.kill()
