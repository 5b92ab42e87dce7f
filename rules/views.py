"""What a supervisor sees of a case: one document with its steps, as of an instant.

Stores index this document (one per case, replaced on every change) beside the
immutable records.  Deadlines are stored as instants so that "overdue now" is a
range query at read time (``completed is null and deadline < now``), never a
status computed at write time that goes stale as the clock runs.  A deadline is
``None`` while an open suspension holds a clock that had not yet reached it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from rules.calendar import BusinessCalendar
from rules.planning import clock_level, counted
from rules.state import CaseState, StepClock
from rules.timeutil import format_instant

_EPOCH = date(1970, 1, 1)


def _iso(t: int | None) -> str | None:
    return None if t is None else format_instant(t)


def _clock_fields(
    st: CaseState, clock: StepClock | None, kind: str, step: str, cycle: int
) -> tuple[dict[str, Any], int | None]:
    """A clock's limit in force, its extensions, its last day and its deadline now (also as an instant)."""
    assert st.item is not None
    lv = clock_level(st, kind, step, cycle)
    limits = [] if clock is None or clock.limits is None else clock.limits
    plain = st.item.limit if kind == "case_overdue" else st.item.step_index[step].limit
    out: dict[str, Any] = {
        "limit_seconds": limits[-1][1] if limits else plain,  # in force now, whether or not reachable
        "deadline": None if lv is None else format_instant(lv[0]),
    }
    if len(limits) > 1:
        out["extensions"] = [{"at": format_instant(a), "limit_seconds": n} for a, n in limits[1:]]
    if clock is not None and clock.last_day is not None:
        out["last_day"] = (_EPOCH + timedelta(days=clock.last_day)).isoformat()
    if lv is not None:
        out.update(_coverage(st, clock.start if clock is not None else st.submitted, lv[0]))
    return out, None if lv is None else lv[0]


def _coverage(st: CaseState, start: int, deadline: int) -> dict[str, Any]:
    """A deadline placed past the calendar's listed holidays, or across a provisionally listed year, says so."""
    assert st.item is not None
    cal = st.item.calendar
    if not isinstance(cal, BusinessCalendar) or cal.covered_end is None:
        return {}
    out: dict[str, Any] = {}
    if deadline >= cal.covered_end:
        out["deadline_beyond_calendar"] = True
    years = range(datetime.fromtimestamp(start, UTC).year, datetime.fromtimestamp(deadline, UTC).year + 1)
    if cal.provisional and any(y in cal.provisional for y in years):
        out["deadline_provisional"] = True
    return out


def _step_entry(st: CaseState, name: str, clock: StepClock, as_of: int) -> dict[str, Any]:
    assert st.item is not None
    spec = st.item.step_index[name]
    fields, deadline = _clock_fields(st, clock, "overdue", name, clock.cycle)
    end = clock.end if clock.end is not None else as_of
    late = deadline is not None and end > deadline
    status = ("late" if late else "on_time") if clock.end is not None else ("overdue" if late else "running")
    entry = {
        "step": name,
        "started_at": format_instant(clock.start),
        "completed_at": _iso(clock.end),
        "handler_id": clock.handler,
        **fields,
        "counted_seconds": counted(st.item.calendar, clock.start, max(end, clock.start), st.suspensions,
                                   st.suspended_at),
        "status": status,
    }  # fmt: skip
    if spec.limit_days is not None:
        entry["limit_days"] = spec.limit_days
        entry["day_count"] = "natural" if st.item.natural_days else "working"
    if clock.cycle != 1:
        entry["cycle"] = clock.cycle
    if spec.title is not None:
        entry["title"] = spec.title
    return entry


def case_document(st: CaseState, as_of: int) -> dict[str, Any] | None:
    """The case as of ``as_of`` (clocks still running are counted up to it); None for unknown cases.

    One entry per step, its latest cycle; earlier cycles of a reworked step are under ``cycles``.
    """
    item = st.item
    if item is None:
        return None
    open_since = st.suspended_at
    steps = []
    for spec in item.steps:
        clock = st.steps.get(spec.name)
        if clock is None:
            continue
        entry = _step_entry(st, spec.name, clock, as_of)
        if spec.name in st.past:
            entry["cycles"] = [_step_entry(st, spec.name, c, as_of) for c in st.past[spec.name]]
        steps.append(entry)
    fields, case_deadline = (
        _clock_fields(st, st.case_clock, "case_overdue", "", 1) if item.has_case_clock else ({}, None)
    )
    end = st.completed if st.completed is not None else as_of
    case_late = case_deadline is not None and end > case_deadline
    if st.completed is not None:
        status = "late" if case_late else "on_time"
    else:
        status = "suspended" if open_since is not None else ("overdue" if case_late else "running")
    doc = {
        "case_id": st.case_id,
        "item_code": item.code,
        "item_name": item.name,
        "item_version": item.version,
        "agency_id": st.agency_id,
        "handler_id": st.handler,
        "submitted_at": format_instant(st.submitted),
        "completed_at": _iso(st.completed),
        "limit_seconds": fields.get("limit_seconds"),
        "deadline": fields.get("deadline"),
        "counted_seconds": counted(item.calendar, st.submitted, max(end, st.submitted), st.suspensions, open_since),
        "status": status,
        "suspended_since": _iso(open_since),
        "suspensions": [[format_instant(s), format_instant(e)] for s, e in st.suspensions],
        "fees_yuan": str(st.fees),
        "steps": steps,
        "as_of": format_instant(as_of),
    }
    for key in ("extensions", "last_day"):
        if key in fields:
            doc[key] = fields[key]
    if item.limit_days is not None:
        doc["limit_days"] = item.limit_days
        doc["day_count"] = "natural" if item.natural_days else "working"
    if item.effective_from is not None:
        doc["item_effective_from"] = format_instant(item.effective_from)
    if st.suspended_kind is not None:
        doc["suspended_kind"] = st.suspended_kind
    if st.uncapped:
        doc["uncapped_suspensions"] = [[format_instant(s), format_instant(e)] for s, e in st.uncapped]
    return doc
