"""CONTRACT.md's worked examples through the live pipeline: the same records and rejects as replay.

Each example's history lies in the past, so the wall clock raises every level
of a running clock as soon as its batch is judged, and a later event that
disproves one revokes it: what counts is the records net of revocations,
those before ``until`` (live goes on judging past it).  Lines are sent in
replay's application order (``occurred_at``, ties in line order) through a
bridge that stamps each message with the report's original ``received_at``
(``APPROVAL_MONITOR_SENDER_TIMESTAMPS``), or with its ``occurred_at`` where the
example has none (no delay: neither check of §7.8 can then fire, as in replay).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from support import EXAMPLES
from support.live import Names, Worker, raw_producer, read_topic, wait_for

from approval_monitor.packs import load_pack
from rules.events import Event, future_stamped, parse_line, raw_bytes
from rules.timeutil import parse_instant

pytestmark = pytest.mark.kafka

KEY = ("kind", "case_id", "step", "at", "points", "agency_id", "item_code")


def _multiset(rows: list[dict]) -> Counter:
    return Counter((*(r[k] for k in KEY), r.get("cycle", 1)) for r in rows)


def _sendable(example: Path, until: int) -> list[tuple[int, bytes, bytes, int | None]]:
    """``(line number, key, value, timestamp ms)`` in application order; events at or after ``until`` that are
    valid on the line are not sent (replay does not apply them), the rest are (they are rejected on the line)."""
    tolerance = load_pack(example / "rules.yaml").future_tolerance
    keyed = []
    for n, line in enumerate((example / "events.jsonl").read_bytes().splitlines(), start=1):
        got = parse_line(line, n)
        if isinstance(got, Event):
            ts = got.received if got.received is not None else got.t
            if got.t >= until and future_stamped(got, tolerance) is None:
                continue
            keyed.append(((got.t, n), n, got.case_id.encode(), line, ts * 1000))
        else:
            keyed.append(((0, n), n, b"unreadable", line, None))
    keyed.sort(key=lambda k: k[0])
    return [(n, key, line, ts) for _, n, key, line, ts in keyed]


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_live_pipeline_reproduces_example(example: Path, kafka_bootstrap: str, tmp_path: Path) -> None:
    until = parse_instant((example / "until").read_text().strip())
    names = Names(partitions=1)  # one partition: a message's offset is its place in the sending order
    env = {**names.env(kafka_bootstrap, example / "rules.yaml"), "APPROVAL_MONITOR_SENDER_TIMESTAMPS": "true"}
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        sent = _sendable(example, until)
        producer = raw_producer(kafka_bootstrap)
        for _, key, value, ts in sent:
            producer.send(names.events, key=key, value=value, timestamp_ms=ts)
        producer.flush()
        producer.close()
        wanted = set(json.loads((example / "expected-rejects.json").read_text())["rejected_lines"])
        wait_for(kafka_bootstrap, names.rejected, lambda rs: len(rs) >= len(wanted))
        expected = _multiset([json.loads(x) for x in (example / "expected.jsonl").read_text().splitlines()])

        def net(rows: list[dict]) -> list[dict]:
            revoked = {r["revokes"] for r in rows if r["kind"] == "revocation"}
            return [r for r in rows if r["kind"] != "revocation" and r["id"] not in revoked]

        def settled(rows: list[dict]) -> bool:
            return _multiset([r for r in net(rows) if parse_instant(r["at"]) < until]) == expected

        records = [r for r, _, _ in wait_for(kafka_bootstrap, names.records, settled, timeout=90)]
        got = _multiset([r for r in net(records) if parse_instant(r["at"]) < until])
        assert got - expected == Counter(), f"records not expected\n{worker.tail()}"
        assert expected - got == Counter(), f"expected records missing\n{worker.tail()}"
        lines = [r for r, _, _ in read_topic(kafka_bootstrap, names.rejected)]
        assert {sent[r["offset"]][0] for r in lines} == wanted
        for r in lines:  # each keeps its bytes and a reason
            assert raw_bytes(r) == sent[r["offset"]][2]
            assert r["reason"] and r["code"]
    finally:
        worker.kill()
