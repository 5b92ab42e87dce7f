"""Limits in days (contract §7.1), extensions (§7.6) and cycles (§7.4) against a plain day-by-day count.

The reference walks the calendar one local date at a time with ``datetime.date``
(the start day not counted; working days, or calendar days moved to a working
day), and takes the close of business of the last day from the calendar's own
working intervals (which ``test_calendar_props`` checks second by second).  It
shares no code with ``rules.days``.  Windows stay clear of the small hours where
clocks change, so both readings of a window's end agree.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.engine import Engine
from rules.events import Event
from rules.pack import parse_pack

ZONES = ["Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Lord_Howe", "UTC"]
BASE = datetime(2026, 2, 20, tzinfo=UTC)  # spans the spring transitions of the zones above, and autumn's of the south


@st.composite
def setups(draw: st.DrawFn) -> dict:
    zone = draw(st.sampled_from(ZONES))
    start_h = draw(st.integers(7, 10))
    split = draw(st.booleans())
    windows = [f"{start_h:02}:00-12:00", "13:30-17:30"] if split else [f"{start_h:02}:30-18:00"]
    weekdays = draw(st.sampled_from([["mon", "tue", "wed", "thu", "fri"], ["mon", "tue", "wed", "thu"]]))
    days = [(BASE + timedelta(days=i)).date() for i in range(120)]
    holidays = sorted(set(draw(st.lists(st.sampled_from(days), max_size=12))))
    workdays = sorted(set(draw(st.lists(st.sampled_from(days), max_size=4))) - set(holidays))
    return {
        "zone": zone, "windows": windows, "weekdays": weekdays, "holidays": holidays, "workdays": workdays,
        "natural": draw(st.booleans()), "n": draw(st.integers(1, 20)),
        "start": int((BASE + timedelta(seconds=draw(st.integers(0, 60 * 86400)))).timestamp()),
    }  # fmt: skip


def _pack(s: dict, extra_step: str = "") -> Engine:
    text = f"""
version: 2
calendars:
  c:
    timezone: {s["zone"]}
    work_windows: {s["windows"]}
    weekdays: {s["weekdays"]}
    holidays: {[d.isoformat() for d in s["holidays"]]}
    workdays: {[d.isoformat() for d in s["workdays"]]}
penalties: {{overdue: 2}}
items:
  - code: x
    calendar: c
    day_count: {"natural" if s["natural"] else "working"}
    max_extensions: 2
    steps:
      - {{name: s, limit_days: {s["n"]}}}
      - {{name: h, limit_hours: 3, optional: true}}
"""
    return Engine(parse_pack(text))


def _working(s: dict, d: date) -> bool:
    names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    return d in s["workdays"] or (d not in s["holidays"] and names[d.weekday()] in s["weekdays"])


def reference_last_day(s: dict, d0: date, n: int) -> date:
    """The contract's last day, counted one date at a time."""
    if s["natural"]:
        d = d0 + timedelta(days=n)
        while not _working(s, d):
            d += timedelta(days=1)
        return d
    d, left = d0, n
    while left:
        d += timedelta(days=1)
        left -= _working(s, d)
    return d


def reference_close(engine: Engine, s: dict, day: date) -> int:
    """The end of the day's last working interval, from the calendar's intervals."""
    cal = engine.pack.calendars["c"]
    zone = ZoneInfo(s["zone"])
    lo = int(datetime.combine(day, datetime.min.time(), zone).timestamp()) - 6 * 3600
    ends = [e for _, e in cal.intervals(lo, lo + 2 * 86400) if datetime.fromtimestamp(e - 1, zone).date() == day]
    return max(ends)


def _events(*specs: tuple[int, str, dict]) -> list[Event]:
    return [Event(t, i, typ, f"e{i}", "K", **kw) for i, (t, typ, kw) in enumerate(specs)]


def _judged(engine: Engine, events: list[Event]) -> list:
    """Every output of one case's events, in order, then every timer it still has."""
    st, out = None, []
    for ev in events:
        if st is not None:
            out.extend(engine.fire(st, ev.t))
        st, applied = engine.apply(st, ev)
        out.extend(applied)
    assert st is not None
    out.extend(engine.fire(st, 2**40))
    return out


def _overdue(engine: Engine, events: list[Event], step: str = "s") -> list:
    return [r for r in _judged(engine, events) if getattr(r, "kind", "") == "overdue" and r.step == step]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(setups())
def test_a_day_limit_ends_at_close_of_business_of_the_plain_count_last_day(s: dict) -> None:
    engine = _pack(s)
    d0 = datetime.fromtimestamp(s["start"], ZoneInfo(s["zone"])).date()
    deadline = reference_close(engine, s, reference_last_day(s, d0, s["n"]))
    t = s["start"]
    got = _overdue(engine, _events((t, "case_submitted", {"item_code": "x", "agency_id": "a"}),
                                   (t, "step_started", {"step": "s"})))  # fmt: skip
    assert [r.at for r in got] == [deadline]
    assert got[0].limit_seconds == engine.pack.calendars["c"].work(t, deadline)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(setups(), st.integers(1, 5), st.floats(0.05, 0.9))
def test_an_extension_moves_the_last_day_by_its_days_counted_the_same_way(s: dict, k: int, at: float) -> None:
    engine = _pack(s)
    zone = ZoneInfo(s["zone"])
    t = s["start"]
    first = reference_last_day(s, datetime.fromtimestamp(t, zone).date(), s["n"])
    d0_deadline = reference_close(engine, s, first)
    e = t + int((d0_deadline - t) * at)  # before the limit runs out
    moved = reference_last_day(s, first, k)
    got = _overdue(engine, _events((t, "case_submitted", {"item_code": "x", "agency_id": "a"}),
                                   (t, "step_started", {"step": "s"}),
                                   (e, "limit_extended", {"step": "s", "extend_days": k})))  # fmt: skip
    assert [r.at for r in got] == [reference_close(engine, s, moved)]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(setups(), st.integers(1, 3 * 3600), st.integers(60, 40 * 86400))
def test_a_reworked_step_gets_its_full_limit_again_as_a_new_cycle(s: dict, done: int, gap: int) -> None:
    engine = _pack(s)
    cal = engine.pack.calendars["c"]
    t = s["start"]
    end1 = t + done
    again = end1 + gap
    got = _overdue(engine, _events((t, "case_submitted", {"item_code": "x", "agency_id": "a"}),
                                   (t, "step_started", {"step": "h"}), (end1, "step_completed", {"step": "h"}),
                                   (again, "step_started", {"step": "h"})), step="h")  # fmt: skip
    late_first = cal.after(t, 3 * 3600) < end1
    assert [(r.cycle, r.at) for r in got] == [(1, cal.after(t, 3 * 3600))] * late_first + [
        (2, cal.after(again, 3 * 3600))
    ]
    assert len({r.id for r in got}) == len(got)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(setups(), st.integers(600, 20 * 3600), st.floats(0.01, 0.99), st.integers(1, 40 * 3600))
def test_an_hour_extension_keeps_levels_already_reached_and_moves_the_others(
    s: dict, limit: int, at: float, more: int
) -> None:
    """Contract §7.6: a level is raised at its instant under the first limit whose instant precedes the next
    extension; here the reminder (0.5), the warning (0.8) and the deadline of one hour clock, extended once."""
    text = f"""
version: 2
calendars:
  c: {{timezone: {s["zone"]}, work_windows: {s["windows"]}, holidays: {[d.isoformat() for d in s["holidays"]]}}}
penalties: {{overdue: 2}}
items:
  - {{code: x, calendar: c, reminder_at: 0.5, warning_at: 0.8, steps: [{{name: h, limit_hours: {limit / 3600}}}]}}
"""
    engine = Engine(parse_pack(text))
    cal = engine.pack.calendars["c"]
    t = s["start"]
    l0 = engine.pack.items["x"].steps[0].limit
    assert l0 is not None
    e = cal.after(t, max(1, int(l0 * at)))  # counted time at e is below the limit
    hours = more / 3600
    evs = _events((t, "case_submitted", {"item_code": "x", "agency_id": "a"}), (t, "step_started", {"step": "h"}),
                  (e, "limit_extended", {"step": "h", "extend_hours": Decimal(str(hours))}))  # fmt: skip
    got = {r.kind: r.at for r in _judged(engine, evs) if hasattr(r, "kind")}
    l1 = l0 + int((Decimal(str(hours)) * 3600).to_integral_value(rounding="ROUND_HALF_UP"))
    for kind, f in (("reminder", Decimal("0.5")), ("warning", Decimal("0.8")), ("overdue", Decimal(1))):
        first = cal.after(t, int((f * l0).to_integral_value(rounding="ROUND_CEILING")))
        want = first if first < e else cal.after(t, int((f * l1).to_integral_value(rounding="ROUND_CEILING")))
        assert got[kind] == want, kind
