"""Rule packs: exact numbers, and every problem reported at once with field, value and fix."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from support import SAMPLE_PACK

from approval_monitor.holidays import china_holidays, provisional_holidays
from approval_monitor.packs import load_pack
from rules.calendar import BusinessCalendar, epoch_day
from rules.pack import PackError, hours_to_seconds, level_seconds, parse_pack

GOOD = """
version: 1
calendars:
  gov:
    timezone: Asia/Shanghai
    work_windows: ["09:00-12:00", "13:30-17:30"]
    holidays: ["2026-10-01"]
    workdays: ["2026-10-10"]
items:
  - code: x
    calendar: gov
    limit_hours: 58.61
    reminder_at: 0.5
    warning_at: 0.9
    fee_yuan: 120.5
    steps: [{name: a, limit_hours: 0.0001389}, {name: b, limit_hours: 1}]
"""


def test_hours_are_exact_decimals_rounded_half_up() -> None:
    pack = parse_pack(GOOD)
    item = pack.items["x"]
    assert item.limit == 210996  # 58.61 h, not 58.6099999... h
    assert item.fee_limit == Decimal("120.5")
    assert item.steps[0].limit == 1  # 0.50004 s rounds to 1
    assert hours_to_seconds(Decimal("0.000138888")) == 0  # 0.4999968 s rounds down
    assert hours_to_seconds(Decimal("0.00013888888888888889")) == 1  # 0.5 s: halves go up
    assert level_seconds(Decimal("0.9"), 7) == 7  # 6.3 s -> 7 (ceil)
    assert level_seconds(Decimal("0.5"), 7200) == 3600


def test_sample_pack_lists_the_official_2026_calendar_and_a_provisional_2027() -> None:
    pack = load_pack(SAMPLE_PACK)
    assert len(pack.items) >= 5
    cal = pack.calendars["cn-gov"]
    assert isinstance(cal, BusinessCalendar)
    assert cal.timezone == "Asia/Shanghai"
    official_h, official_w = china_holidays([2026])
    guessed = [d for d, _ in provisional_holidays([2027])]
    assert cal.holidays == {epoch_day(d) for d in (*official_h, *guessed)}
    assert cal.workdays == {epoch_day(d) for d in official_w}
    assert (cal.covered_year, cal.provisional) == (2027, frozenset({2027}))
    assert not cal.is_working_day(epoch_day(date(2027, 2, 8)))  # the third day of the 2027 Spring Festival
    assert pack.items["road-excavation-emergency"].calendar_name is None


def test_every_problem_is_listed_with_field_value_and_fix() -> None:
    bad = """
version: 3
calendars:
  gov:
    timezone: Mars/Olympus
    work_windows: ["17:00-09:00"]
    weekdays: [mon, funday]
    holidays: ["2026-10-01"]
    workdays: ["2026-10-01"]
items:
  - code: x
    calendar: nope
    limit_hour: 8
    warning_at: 1.5
    steps: [{name: a, limit_hours: -1}, {name: a, limit_hours: 1}]
  - code: x
    steps: []
"""
    with pytest.raises(PackError) as info:
        parse_pack(bad, "bad.yaml")
    text = "\n".join(info.value.problems)
    for needle in [
        "version",
        "Mars/Olympus",
        "17:00-09:00",
        "funday",
        "both holidays and workdays",
        "'nope' is not defined under calendars",
        "did you mean `limit_hours`",
        "warning_at",
        "items[0].steps[0].limit_hours",
        "-1",
        "'a' repeats steps[0]",
        "'x' without effective_from repeats items[0]",
        "items[1].steps",
    ]:
        assert needle in text, f"{needle!r} missing from:\n{text}"
    assert len(info.value.problems) >= 12


@pytest.mark.parametrize(
    ("snippet", "needle"),
    [
        ("version: 1\nitems: []", "items"),
        ("- a list", "YAML mapping"),
        ("version: 1\nitems: [{code: a, steps: [{name: s, limit_hours: 0.0000001}]}]", "rounds to 0 seconds"),
        ("version: 1\nitems: [{code: a, fee_yuan: -1, steps: [{name: s, limit_hours: 1}]}]", "zero or more"),
        (
            "version: 1\npenalties: {overdue: -2}\nitems: [{code: a, steps: [{name: s, limit_hours: 1}]}]",
            "zero or more",
        ),
        ("version: 1\npenalties: {late: 2}\nitems: [{code: a, steps: [{name: s, limit_hours: 1}]}]", "penalties.late"),
        ("version: [", "not valid YAML"),
    ],
)
def test_small_mistakes(snippet: str, needle: str) -> None:
    with pytest.raises(PackError) as info:
        parse_pack(snippet)
    assert needle in str(info.value)


def test_a_reminder_after_the_warning_is_legal_but_noted() -> None:
    pack = parse_pack(
        "version: 1\nitems: [{code: a, reminder_at: 0.9, warning_at: 0.5, steps: [{name: s, limit_hours: 1}]}]"
    )
    assert pack.items["a"].steps[0].levels == ((1800, "warning"), (3240, "reminder"), (3600, "overdue"))
    assert pack.notes == ["item a: reminder_at 0.9 comes after warning_at 0.5"]


def test_unreadable_file_is_a_pack_error(tmp_path) -> None:
    with pytest.raises(PackError, match="cannot read"):
        load_pack(tmp_path / "missing.yaml")
