"""Calendars that never run out silently: declared cover, warnings sixty days ahead, records flagged past it."""

from __future__ import annotations

import pytest
from support import started

from rules.coverage import coverage, warnings
from rules.engine import Engine
from rules.pack import PackError, parse_pack
from rules.timeutil import parse_instant
from rules.views import case_document

PACK = """
version: 2
calendars:
  c:
    timezone: Asia/Shanghai
    work_windows: ["09:00-17:00"]
    holidays: ["2026-10-01", "2027-02-08"]
    covers: [2026, 2027]
    provisional: [2027]
  bare: {timezone: UTC, work_windows: ["09:00-17:00"]}
penalties: {overdue: 2}
items:
  - code: x
    calendar: c
    steps: [{name: s, limit_days: 10}]
"""


def test_warnings_start_sixty_days_before_the_cover_ends_and_name_the_fix() -> None:
    pack = parse_pack(PACK)
    early = parse_instant("2027-06-01T00:00:00+08:00")
    late = parse_instant("2027-11-02T00:00:00+08:00")  # 59 days before 2027-12-31
    past = parse_instant("2028-01-03T00:00:00+08:00")
    (c_early, bare) = coverage(pack, early)
    assert (c_early.last_day.isoformat(), c_early.provisional) == ("2027-12-31", (2027,))  # type: ignore[union-attr]
    assert bare.last_day is None and "does not say which years" in (bare.warning or "")
    assert "provisionally" in (c_early.warning or "")  # far from the end: the provisional year is what to act on
    (c_late, _) = coverage(pack, late)
    assert c_late.days_left == 59 and "rules cn-holidays 2028" in (c_late.warning or "")
    assert any("3 days ago" in w for w in warnings(pack, past))


def test_a_record_timed_past_the_cover_says_so_and_the_case_shows_it() -> None:
    engine = Engine(parse_pack(PACK))
    t = parse_instant("2027-12-24T10:00:00+08:00")  # ten working days later is in 2028
    st = started(engine, t)
    doc = case_document(st, t)
    assert doc is not None and doc["steps"][0]["deadline_beyond_calendar"] is True
    assert doc["steps"][0]["deadline_provisional"] is True
    (rec,) = engine.fire(st, 2**40)
    assert rec.to_json()["beyond_calendar"] == "2027-12-31"
    inside = Engine(parse_pack(PACK))
    (rec2,) = inside.fire(started(inside, parse_instant("2026-09-01T10:00:00+08:00")), 2**40)
    assert "beyond_calendar" not in rec2.to_json()


@pytest.mark.parametrize(
    ("cal", "needle"),
    [
        (
            "{timezone: UTC, work_windows: ['09:00-17:00'], holidays: ['2028-01-03'], covers: [2027]}",
            "outside `covers`",
        ),
        ("{timezone: UTC, work_windows: ['09:00-17:00'], provisional: [2027]}", "needs `covers`"),
        ("{timezone: UTC, work_windows: ['09:00-17:00'], covers: []}", "is empty"),
    ],
)
def test_a_cover_that_does_not_match_the_lists_is_refused(cal: str, needle: str) -> None:
    with pytest.raises(PackError) as e:
        parse_pack(f"version: 2\ncalendars:\n  c: {cal}\nitems: [{{code: x, steps: [{{name: s, limit_hours: 1}}]}}]\n")
    assert needle in str(e.value)
