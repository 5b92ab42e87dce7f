"""End to end through real Kafka: emitter -> topic -> Faust worker -> records and rejected topics.

The history is set in the future, so the wall clock raises nothing during the
test and every record is proven by the events alone: live must then equal
replay exactly — same ids, same instants.  Every case completes, so replay's
``--until`` cannot matter either.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from conftest import SAMPLE_PACK
from live import Names, Worker, raw_producer, wait_for

from approval_monitor.packs import load_pack
from approval_monitor.replay_job import replay_file
from approval_monitor.simulate import Scenario, simulate_lines
from rules.events import Event, parse_line
from rules.timeutil import parse_instant
from streams.emitter import Emitter

pytestmark = pytest.mark.kafka


def _future_history(cases: int) -> list[bytes]:
    """Simulated lines, starting next week, in application order (the order live applies them)."""
    monday = datetime.now(UTC).date() + timedelta(days=7 - datetime.now(UTC).weekday() + 7)
    start = int(datetime(monday.year, monday.month, monday.day, 1, 0, tzinfo=UTC).timestamp())  # 09:00 in Shanghai
    lines = list(
        simulate_lines(load_pack(SAMPLE_PACK), Scenario(cases=cases, start=start, seed=11, noise=0.04, abandon=0))
    )
    keyed = []
    for i, line in enumerate(lines):
        got = parse_line(line, i)
        keyed.append(((got.t, i) if isinstance(got, Event) else (0, i), line))
    keyed.sort(key=lambda kv: kv[0])
    return [line for _, line in keyed]


def _obj(line: bytes) -> object:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return line  # the emitter refuses what is not a JSON object


def _replay(lines: list[bytes]) -> list[dict]:
    """Replay's records that the events themselves prove: those before each case's last event.

    The history lies in the future, so live raises nothing on the wall clock;
    a case whose completion was lost to noise keeps timers that only time will fire.
    """
    out = io.BytesIO()
    replay_file(load_pack(SAMPLE_PACK), io.BytesIO(b"\n".join(lines) + b"\n"), 4102444800, out, io.BytesIO())
    last: dict[str, int] = {}
    for i, line in enumerate(lines):
        got = parse_line(line, i)
        if isinstance(got, Event):
            last[got.case_id] = max(last.get(got.case_id, got.t), got.t)
    records = [orjson.loads(x) for x in out.getvalue().splitlines()]
    immediate = {"procedure", "fee"}
    return [
        r
        for r in records
        if parse_instant(r["at"]) < last[r["case_id"]]
        or (r["kind"] in immediate and parse_instant(r["at"]) <= last[r["case_id"]])
    ]


def test_emitted_events_come_out_as_the_records_replay_computes(kafka_bootstrap: str, tmp_path: Path) -> None:
    names = Names(partitions=4)
    worker = Worker(names.env(kafka_bootstrap, SAMPLE_PACK), tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        lines = _future_history(cases=80)
        expected = _replay(lines)
        assert len(expected) > 100
        with Emitter(kafka_bootstrap, names.events) as emitter:
            results = emitter.send_many([_obj(x) for x in lines])
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
