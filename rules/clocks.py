"""Starting clocks and extending them: where a clock's own limit comes from (contract §7.1, §7.4, §7.6).

A clock with an hour limit that was never extended keeps no limit of its own —
the step's precomputed levels serve it, and the state stays small.  A day
limit is turned into counted seconds when its clock starts (from the start
instant and the calendar), and an extension appends the limit in force from
its instant on; both are facts of the case, kept with it, so a restart or a
newer rule pack never re-times a running clock.
"""

from __future__ import annotations

from rules.calendar import BusinessCalendar
from rules.days import advance_days, day_deadline, first_last_day
from rules.events import Event
from rules.pack import Item
from rules.pack_spec import hours_to_seconds
from rules.planning import counted
from rules.state import CaseState, StepClock
from rules.timeutil import format_instant

Problem = tuple[str, str]  # (code, reason) of a rejection


def start_clock(item: Item, days: int | None, t: int, handler: str | None, cycle: int = 1) -> StepClock:
    """A clock starting at ``t``; with a day limit, its last day and the counted seconds up to its close."""
    if days is None:
        return StepClock(t, handler, cycle=cycle)
    clock = StepClock(t, handler, cycle=cycle)
    cal = item.calendar
    assert isinstance(cal, BusinessCalendar)  # a pack with day limits names a calendar (checked at load)
    clock.last_day = first_last_day(cal, t, days, item.natural_days)
    _, limit = day_deadline(cal, t, clock.last_day)
    clock.limits = [(t, limit)]
    return clock


def extend(st: CaseState, ev: Event) -> Problem | None:
    """Apply a ``limit_extended`` to the clock it names, or say why it cannot be (contract §7.6)."""
    item = st.item
    assert item is not None
    t = ev.t
    if ev.step is not None:
        spec = item.step_index.get(ev.step)
        if spec is None:
            names = ", ".join(s.name for s in item.steps)
            return "unknown_step", f"`step` {ev.step!r} is not a step of item {item.code!r} ({names})"
        clock = st.steps.get(ev.step)
        if clock is None or clock.end is not None:
            how = "was never started" if clock is None else f"was completed at {format_instant(clock.end or 0)}"
            return "clock_not_running", f"step {ev.step!r} {how}; only a running clock can be extended"
        days, base = spec.limit_days, spec.limit
        what = f"step {ev.step!r}"
    else:
        if not item.has_case_clock:
            return "clock_not_running", f"item {item.code!r} has no case limit to extend; name the `step` to extend"
        clock = st.case_clock or StepClock(st.submitted, st.handler)
        days, base = item.limit_days, item.limit
        what = "the case limit"
    limits = clock.limits if clock.limits is not None else [(clock.start, base or 0)]
    used = len(limits) - 1
    if used >= item.max_extensions:
        return "extensions_used", (
            f"{what} has used its {item.max_extensions} extension(s) (item {item.code!r} `max_extensions`); "
            "a further extension needs a rule change"
        )
    if (days is None) != (ev.extend_days is None):
        unit, other = ("days", "hours") if days is not None else ("hours", "days")
        return "wrong_extension_unit", f"{what} is limited in {unit}; give `extend_{unit}`, not `extend_{other}`"
    limit = limits[-1][1]
    if counted(item.calendar, clock.start, t, st.suspensions, st.suspended_at) >= limit:
        return "extension_too_late", (
            f"{what} had already reached its limit by {format_instant(t)}; an extension must be decided before "
            "the limit runs out (行政许可法 §42)"
        )
    if ev.extend_days is not None:
        cal = item.calendar
        assert isinstance(cal, BusinessCalendar) and clock.last_day is not None
        clock.last_day = advance_days(cal, clock.last_day, ev.extend_days, item.natural_days)
        _, limit = day_deadline(cal, clock.start, clock.last_day)
    else:
        assert ev.extend_hours is not None
        limit += hours_to_seconds(ev.extend_hours)
    clock.limits = [*limits, (t, limit)]
    if ev.step is None:
        st.case_clock = clock
    return None
