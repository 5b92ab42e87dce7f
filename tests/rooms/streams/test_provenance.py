"""Every write in scope, every report timed on arrival: the worker judges where an event came from and when.

A scoped sender (the HTTP ingest's key, or a producer's configured scope) may change only the cases of
its agency subtree; the broker stamps each event as it arrives (LogAppendTime), and that instant, not
what the sender wrote, is its ``received_at`` (contract §7.8).
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import orjson
import pytest
from kafka import KafkaProducer
from support.live import Names, Worker, read_topic, wait_for

from approval_monitor.packs import load_pack
from approval_monitor.replay_job import replay_file
from streams.emitter import Emitter

pytestmark = pytest.mark.kafka

PACK = """
version: 2
penalties: {overdue: 2, late_report: 1}
future_tolerance_seconds: 300
items:
  - code: permit
    max_report_delay_hours: 1
    steps: [{name: accept, limit_hours: 100}, {name: review, limit_hours: 100}]
"""


def _at(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def test_out_of_scope_writes_future_stamps_and_late_reports(kafka_bootstrap: str, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(PACK)
    names = Names(partitions=2)
    worker = Worker(names.env(kafka_bootstrap, rules), tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        now = time.time()
        food = {"case_id": "FOOD-1", "occurred_at": _at(now - 60)}
        with Emitter(kafka_bootstrap, names.events, sender="upstream") as upstream:
            sent = upstream.send_many([
                {**food, "event_id": "f1", "type": "case_submitted", "item_code": "permit",
                 "agency_id": "city/market/food"},
                {**food, "event_id": "f2", "type": "step_started", "step": "accept"},
            ])  # fmt: skip
            assert all(s.ok for s in sent)
        hall = Emitter(kafka_bootstrap, names.events, sender="registration-hall", scope="city/market/registration")
        with hall:
            sent = hall.send_many([
                # another agency's case: a backdated completion and a suspension must not touch it
                {"case_id": "FOOD-1", "event_id": "x1", "type": "step_completed", "step": "accept",
                 "occurred_at": _at(now - 30)},
                {"case_id": "FOOD-1", "event_id": "x2", "type": "case_suspended", "occurred_at": _at(now - 20)},
                # its own case, reported two hours late: applied, and a late_report
                {"case_id": "REG-1", "event_id": "r1", "type": "case_submitted", "item_code": "permit",
                 "agency_id": "city/market/registration", "occurred_at": _at(now - 7200),
                 "received_at": _at(now - 7200)},  # what the sender claims is ignored: the broker stamps it
                # stamped an hour in the future: refused on its own
                {"case_id": "REG-1", "event_id": "r2", "type": "step_started", "step": "accept",
                 "occurred_at": _at(now + 3600)},
            ])  # fmt: skip
            assert all(s.ok for s in sent), sent  # the worker judges them: the emitter knows no case's agency
        # A producer's own message timestamp ten days ahead would make this a late report; the broker
        # stamps the events topic on arrival (LogAppendTime), so it is not one.
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        event = {"case_id": "REG-1", "event_id": "r3", "type": "step_started", "step": "accept",
                 "occurred_at": _at(now - 10)}  # fmt: skip
        producer.send(names.events, key=b"REG-1", value=orjson.dumps(event), timestamp_ms=int((now + 864000) * 1000))
        producer.flush()
        producer.close()
        rejected = wait_for(kafka_bootstrap, names.rejected, lambda rs: len(rs) >= 3, timeout=60)
        by_event = {r["event_id"]: r for r, _, _ in rejected}
        assert by_event["x1"]["code"] == by_event["x2"]["code"] == "out_of_scope", worker.tail(40)
        assert by_event["x1"]["sender"] == "registration-hall"
        assert by_event["x1"]["scope"] == "city/market/registration"
        assert "city/market/food" in by_event["x1"]["reason"] and by_event["x1"]["raw"]
        assert by_event["r2"]["code"] == "future_timestamp"
        records = wait_for(kafka_bootstrap, names.records, lambda rs: any(r["kind"] == "late_report" for r in rs), 60)
        late = [r for r, _, _ in records if r["kind"] == "late_report"]
        assert [(r["case_id"], r["points"]) for r in late] == [("REG-1", 1)], worker.tail(40)
        assert abs(late[0]["reporting_delay_seconds"] - 7200) < 60  # the broker's stamp, not the sender's claim
        time.sleep(2)
        final = [r for r, _, _ in read_topic(kafka_bootstrap, names.records)]
        assert {r["case_id"] for r in final} == {"REG-1"}
        assert [r["event_id"] for r in final if r["kind"] == "late_report"] == ["r1"]
        # Replay of what the topic holds, each event with the broker's stamp as its received_at, agrees.
        lines = [orjson.dumps({**e, "received_at": _at(ts / 1000)})
                 for e, _, ts in read_topic(kafka_bootstrap, names.events) if e["case_id"] == "REG-1"]  # fmt: skip
        out = io.BytesIO()
        replay_file(load_pack(rules), io.BytesIO(b"\n".join(lines)), int(time.time()) + 60, out, io.BytesIO())
        replayed = [orjson.loads(x) for x in out.getvalue().splitlines()]
        assert [(r["id"], r["at"]) for r in replayed if r["kind"] == "late_report"] == [
            (r["id"], r["at"]) for r in final if r["kind"] == "late_report"
        ]
        assert len(read_topic(kafka_bootstrap, names.rejected)) == 3  # FOOD-1's own events were applied
    finally:
        worker.kill()
