"""Index alarms: an agency whose month turns yellow, orange or red is named once per colour, across restarts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
from support.data import filled_sqlite

from rules.indicators import index_alarms, rolled_up
from rules.timeutil import parse_instant
from streams.config import IndexRules
from streams.index_watch import IndexWatch

MARCH = parse_instant("2026-03-19T12:00:00+08:00")


def test_one_alarm_per_agency_and_colour_across_restarts(tmp_path: Path) -> None:
    store = filled_sqlite(tmp_path / "m.db", day_offset=8 * 3600)
    sent: list[dict[str, Any]] = []

    async def send(key: bytes, value: bytes) -> None:  # what the sink's records topic carries back into the store
        record = orjson.loads(value)
        assert key == record["case_id"].encode()
        sent.append(record)
        await store.put_records([record])

    rules = IndexRules(bands=(0.5, 1, 2, 4), min_steps=5, every_seconds=60)

    async def run() -> tuple[int, int, int]:
        first = await IndexWatch(store, send, rules, 8 * 3600).check(MARCH)
        again = await IndexWatch(store, send, rules, 8 * 3600).check(MARCH + 600)  # a restarted sink
        later = await IndexWatch(store, send, rules, 8 * 3600).check(parse_instant("2026-04-02T12:00:00+08:00"))
        return first, again, later

    first, again, later = asyncio.run(run())
    assert first > 0 and again == 0 and later == 0  # April has no completed steps yet: no index, no alarm
    assert {r["kind"] for r in sent} == {"index_alarm"} and len({r["id"] for r in sent}) == len(sent)
    assert all(r["period"] == "2026-03" and r["colour"] in ("yellow", "orange", "red") for r in sent)
    assert all(r["points"] == 0 and r["case_id"] == f"index:{r['agency_id']}" for r in sent)


def test_small_or_green_units_raise_nothing() -> None:
    cards = [{"key": "a/b", "points": 30, "counts": {"overdue": 15}, "steps_completed": 4, "steps_on_time": 1},
             {"key": "a/c", "points": 1, "counts": {}, "steps_completed": 500, "steps_on_time": 499}]  # fmt: skip
    rows = {r["key"]: r for r in rolled_up(cards)}
    assert index_alarms([rows["a/b"], rows["a/c"]], "2026-03", [1, 3, 6, 10], 20, 0) == []
    (alarm,) = index_alarms([rows["a"]], "2026-03", [1, 3, 6, 10], 20, 0)  # 31 points over 504 steps: 6.15
    assert alarm.detail is not None and alarm.detail["colour"] == "orange" and alarm.agency_id == "a"
