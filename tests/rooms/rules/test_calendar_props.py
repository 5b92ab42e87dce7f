"""The interval-table calendar against the contract's definition, second by second.

The reference below classifies every second on its own — local wall-clock time
in the zone, working day, inside a window — exactly as CONTRACT.md §3 words it,
and shares no code with ``rules.calendar``.  Ranges are short (the reference is
slow) and drawn around daylight-saving transitions, lunch breaks, holidays and
make-up days, where interval arithmetic goes wrong if it goes wrong anywhere.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.calendar import ALWAYS, BusinessCalendar

# Zones with and without DST, a half-hour DST (Lord Howe), a +05:45 offset, one south of the equator.
ZONES = ["Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kathmandu", "UTC"]
# Instants near the 2026 transitions of those zones, plus ordinary days.
ANCHORS = [
    datetime(2026, 3, 8, 6, 0, tzinfo=UTC),  # New York springs forward
    datetime(2026, 11, 1, 5, 0, tzinfo=UTC),  # New York falls back
    datetime(2026, 3, 29, 0, 30, tzinfo=UTC),  # London springs forward
    datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # London falls back
    datetime(2026, 4, 4, 14, 30, tzinfo=UTC),  # Lord Howe falls back half an hour
    datetime(2026, 10, 3, 15, 30, tzinfo=UTC),  # Lord Howe springs forward half an hour
    datetime(2026, 11, 20, 0, 0, tzinfo=UTC),
    datetime(2026, 12, 31, 12, 0, tzinfo=UTC),  # across a year boundary
]


def reference_seconds(cal_args: dict, a: int, b: int) -> list[bool]:
    """For each second in [a, b): does it count?  The contract, literally."""
    zone = ZoneInfo(cal_args["timezone"])
    holidays, workdays = set(cal_args["holidays"]), set(cal_args["workdays"])
    out = []
    for t in range(a, b):
        local = datetime.fromtimestamp(t, UTC).astimezone(zone)
        d = local.date()
        working_day = d in workdays or (d not in holidays and local.weekday() in cal_args["weekdays"])
        tod = local.hour * 3600 + local.minute * 60 + local.second
        out.append(working_day and any(s <= tod < e for s, e in cal_args["windows"]))
    return out


@st.composite
def calendars(draw: st.DrawFn) -> dict:
    zone = draw(st.sampled_from(ZONES))
    # Windows on a 15-minute grid, with gaps between them (lunch breaks); sometimes
    # reaching midnight or sitting inside the hours DST skips or repeats.
    marks = sorted(draw(st.sets(st.integers(0, 96), min_size=2, max_size=6)))
    if len(marks) % 2:
        marks = marks[:-1]
    windows = [(marks[i] * 900, marks[i + 1] * 900) for i in range(0, len(marks), 2)]
    weekdays = draw(st.sets(st.integers(0, 6), min_size=1, max_size=7))
    days = [date(2025, 12, 1) + timedelta(days=i) for i in range(0, 400)]
    special = draw(st.lists(st.sampled_from(days), max_size=40, unique=True))
    split = draw(st.integers(0, len(special)))
    return {
        "timezone": zone,
        "windows": windows,
        "weekdays": weekdays,
        "holidays": special[:split],
        "workdays": special[split:],
    }


def build(args: dict) -> BusinessCalendar:
    return BusinessCalendar(args["timezone"], args["windows"], args["weekdays"], args["holidays"], args["workdays"])


@st.composite
def ranges(draw: st.DrawFn) -> tuple[int, int]:
    """Ranges of one to thirty hours starting within a day of a transition or year end."""
    anchor = int(draw(st.sampled_from(ANCHORS)).timestamp())
    a = anchor + draw(st.integers(-86400, 86400))
    length = draw(st.sampled_from([1, 2, 5, 9, 13, 20, 26, 30])) * 3600 + draw(st.integers(-1800, 1800))
    return a, a + max(length, 1)


@st.composite
def scenario(draw: st.DrawFn) -> tuple[dict, int, int]:
    args = draw(calendars())
    a, b = draw(ranges())
    # Holidays and make-up days inside the range, so they matter.
    first = datetime.fromtimestamp(a, UTC).date() - timedelta(days=1)
    near = [first + timedelta(days=k) for k in range((b - a) // 86400 + 3)]
    for d in draw(st.lists(st.sampled_from(near), min_size=1, max_size=3, unique=True)):
        if d not in args["holidays"] and d not in args["workdays"]:
            (args["workdays"] if draw(st.booleans()) else args["holidays"]).append(d)
    return args, a, b


COMMON = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@COMMON
@given(scenario())
def test_work_matches_second_by_second(case: tuple[dict, int, int]) -> None:
    args, a, b = case
    cal = build(args)
    assert cal.work(a, b) == sum(reference_seconds(args, a, b))


@COMMON
@given(scenario(), st.data())
def test_after_is_the_earliest_instant_reaching_n(case: tuple[dict, int, int], data: st.DataObject) -> None:
    args, a, b = case
    counted = reference_seconds(args, a, b)
    total = sum(counted)
    cal = build(args)
    n = data.draw(st.integers(0, total))
    t = cal.after(a, n)
    # Reference: the instant just after the n-th counted second (a itself for n = 0).
    if n == 0:
        expected = a
    else:
        seen = 0
        for i, c in enumerate(counted):
            seen += c
            if seen == n:
                expected = a + i + 1
                break
    assert t == expected
    assert cal.work(a, t) == n


@COMMON
@given(scenario(), st.data())
def test_after_many_agrees_with_after(case: tuple[dict, int, int], data: st.DataObject) -> None:
    args, a, _ = case
    cal = build(args)
    ns = sorted(data.draw(st.lists(st.integers(0, 200 * 3600), min_size=1, max_size=4)))
    assert cal.after_many(a, ns) == [cal.after(a, n) for n in ns]


@settings(max_examples=40, deadline=None)
@given(calendars(), st.integers(0, 400 * 86400), st.integers(0, 60 * 86400))
def test_work_is_additive_over_long_ranges(args: dict, offset: int, span: int) -> None:
    """Splitting a range anywhere changes nothing, across weeks and year boundaries."""
    cal = build(args)
    a = int(datetime(2025, 6, 1, tzinfo=UTC).timestamp()) + offset
    b = a + span
    mid = (a + b) // 2
    assert cal.work(a, b) == cal.work(a, mid) + cal.work(mid, b)
    n = cal.work(a, b)
    if n:
        t = cal.after(a, n)
        assert t <= b
        assert cal.work(a, t) == n
        assert cal.work(a, t - 1) == n - 1  # the second before t counts: t is the earliest


def test_always_calendar_counts_every_second() -> None:
    assert ALWAYS.work(10, 20) == 10
    assert ALWAYS.work(20, 10) == 0
    assert ALWAYS.after(10, 5) == 15


def test_repeated_hour_counts_twice_and_skipped_hour_not_at_all() -> None:
    """A 01:00-03:00 window on New York's fall-back night holds three real hours; 02:00-03:00 on spring-forward none."""
    every_day = list(range(7))
    cal = BusinessCalendar("America/New_York", [(3600, 3 * 3600)], every_day)
    day_start = int(datetime(2026, 11, 1, 4, 0, tzinfo=UTC).timestamp())  # 00:00 EDT
    assert cal.work(day_start, day_start + 86400) == 3 * 3600
    spring = BusinessCalendar("America/New_York", [(2 * 3600, 3 * 3600)], every_day)
    s0 = int(datetime(2026, 3, 8, 5, 0, tzinfo=UTC).timestamp())  # 00:00 EST
    assert spring.work(s0, s0 + 86400) == 0
    assert spring.work(s0 - 86400, s0) == 3600


def test_tables_extend_across_years_both_ways() -> None:
    cal = BusinessCalendar("Asia/Shanghai", [(9 * 3600, 17 * 3600)])
    a = int(datetime(2026, 6, 1, tzinfo=UTC).timestamp())
    far = int(datetime(2031, 6, 1, tzinfo=UTC).timestamp())
    early = int(datetime(2019, 6, 1, tzinfo=UTC).timestamp())
    w = cal.work(a, far)
    assert cal.after(a, w) <= far
    assert cal.work(early, a) + w == cal.work(early, far)
