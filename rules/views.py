"""What a supervisor sees of a case: one document with its steps, as of an instant.

Stores index this document (one per case, replaced on every change) beside the
immutable records.  Deadlines are stored as instants so that "overdue now" is a
range query at read time (``completed is null and deadline < now``), never a
status computed at write time that goes stale as the clock runs.  A deadline is
``None`` while an open suspension holds a clock that had not yet reached it.
"""

from __future__ import annotations

from typing import Any

from rules.planning import level_instants
from rules.state import CaseState
from rules.timeutil import format_instant


def _iso(t: int | None) -> str | None:
    return None if t is None else format_instant(t)


def _counted(st: CaseState, start: int, end: int) -> int:
    """Working seconds of the case's calendar in ``[start, end)`` outside its suspensions."""
    assert st.item is not None
    cal = st.item.calendar
    total = cal.work(start, end)
    spans = list(st.suspensions)
    if st.suspended_at is not None:
        spans.append((st.suspended_at, end))
    for s, e in spans:
        lo, hi = max(s, start), min(e, end)
        if lo < hi:
            total -= cal.work(lo, hi)
    return total


def case_document(st: CaseState, as_of: int) -> dict[str, Any] | None:
    """The case as of ``as_of`` (clocks still running are counted up to it); None for unknown cases."""
    item = st.item
    if item is None:
        return None
    cal = item.calendar
    susp, open_since = st.suspensions, st.suspended_at
    steps = []
    for spec in item.steps:
        clock = st.steps.get(spec.name)
        if clock is None:
            continue
        (deadline,) = level_instants(cal, clock.start, [spec.limit], susp, open_since)
        end = clock.end if clock.end is not None else as_of
        late = deadline is not None and end > deadline
        status = ("late" if late else "on_time") if clock.end is not None else ("overdue" if late else "running")
        steps.append(
            {
                "step": spec.name,
                "started_at": format_instant(clock.start),
                "completed_at": _iso(clock.end),
                "handler_id": clock.handler,
                "limit_seconds": spec.limit,
                "deadline": _iso(deadline),
                "counted_seconds": _counted(st, clock.start, max(end, clock.start)),
                "status": status,
            }
        )
    case_deadline = None
    if item.limit is not None:
        (case_deadline,) = level_instants(cal, st.submitted, [item.limit], susp, open_since)
    end = st.completed if st.completed is not None else as_of
    case_late = case_deadline is not None and end > case_deadline
    if st.completed is not None:
        status = "late" if case_late else "on_time"
    else:
        status = "suspended" if open_since is not None else ("overdue" if case_late else "running")
    return {
        "case_id": st.case_id,
        "item_code": item.code,
        "item_name": item.name,
        "agency_id": st.agency_id,
        "handler_id": st.handler,
        "submitted_at": format_instant(st.submitted),
        "completed_at": _iso(st.completed),
        "limit_seconds": item.limit,
        "deadline": _iso(case_deadline),
        "counted_seconds": _counted(st, st.submitted, max(end, st.submitted)),
        "status": status,
        "suspended_since": _iso(open_since),
        "suspensions": [[format_instant(s), format_instant(e)] for s, e in susp],
        "fees_yuan": str(st.fees),
        "steps": steps,
        "as_of": format_instant(as_of),
    }
