"""Raising records: the timers a case's clocks have reached, and revocations when a late event disproves one.

Split from ``rules.engine`` (which applies events) so that each stays small;
both serve replay and the live pipeline alike.
"""

from __future__ import annotations

from typing import Any

from rules.calendar import BusinessCalendar
from rules.events import Event
from rules.planning import Planner, extended_level
from rules.records import REVOCATION, Record, record_id
from rules.state import CaseState, Key
from rules.timeutil import format_instant


class Firing(Planner):
    """The record-raising half of the engine."""

    points: dict[str, int | float]

    def _revise(self, st: CaseState, ev: Event, out: list[Any]) -> None:
        """A late event changed the past: revoke raised records its facts disprove, then re-plan.

        A revoked record's level may lie elsewhere now; the re-plan schedules it
        there, and it is raised again with a new id (the instant is part of the id).
        Each revocation names the event that caused it and, when known, how late it was reported.
        """
        assert st.item is not None
        t = ev.t
        cause: dict[str, Any] = {"caused_by": ev.event_id}
        if ev.received is not None:
            cause["reporting_delay_seconds"] = ev.received - t
        for key, at in sorted(st.fired.items(), key=lambda kv: kv[1]):
            kind, step, cycle = key
            if at < t or self._level_now(st, kind, step, cycle) == at:
                continue
            del st.fired[key]
            old = self._clock_record_id(st, key, at)
            st.revised[key] = st.revised.get(key, 0) + 1
            out.append(
                Record(
                    record_id(st.case_id, REVOCATION, step or None, t, old),
                    REVOCATION,
                    st.case_id,
                    step or None,
                    t,
                    st.item.code,
                    st.agency_id,
                    None,
                    0,
                    detail={"revokes": old, "revoked_kind": kind, "revoked_at": format_instant(at), **cause},
                    cycle=cycle,
                )
            )
        self.plan(st)

    @staticmethod
    def _clock_record_id(st: CaseState, key: Key, at: int) -> str:
        """A re-raise after a revocation gets a new id even at the same instant; so does each cycle (§7.4)."""
        kind, step, cycle = key
        n = st.revised.get(key, 0) if st.revised else 0
        if n == 0 and cycle == 1:
            return record_id(st.case_id, kind, step or None, at)
        return record_id(
            st.case_id, kind, step or None, at, (f"r{n}" if n else "") + (f"c{cycle}" if cycle != 1 else "")
        )

    def fire(self, st: CaseState, before: int) -> list[Record]:
        """Raise the case's records whose instants lie strictly before ``before``."""
        out: list[Record] = []
        timers = st.timers
        item = st.item
        assert item is not None or not timers
        points, case_id = self.points, st.case_id
        covered_end = _NEVER if item is None or not timers or timers[0][0] >= before else _cover_end(item.calendar)
        while timers and timers[0][0] < before:
            at, kind, name = timers.pop(0)
            assert item is not None
            if name:
                clock = st.steps[name]
                key = (kind, name, clock.cycle)
                st.fired[key] = at
                spec = item.step_index[name]
                if clock.limits is None:
                    n = spec.reminder if kind == "reminder" else spec.warning if kind == "warning" else spec.limit
                    limit = spec.limit
                else:
                    lv = extended_level(st, clock, kind)
                    assert lv is not None
                    _, n, limit = lv
                rec = Record(
                    self._clock_record_id(st, key, at), kind, case_id, name, at, item.code, st.agency_id,
                    clock.handler, points[kind], clock.start, n, limit, None, clock.cycle,
                )  # fmt: skip
            elif kind == "case_overdue":
                key = (kind, "", 1)
                st.fired[key] = at
                limit = item.limit
                if st.case_clock is not None and st.case_clock.limits is not None:
                    lv = extended_level(st, st.case_clock, kind)  # the limit it was raised under (§7.6)
                    limit = None if lv is None else lv[2]
                rec = Record(
                    self._clock_record_id(st, key, at), kind, case_id, None, at, item.code, st.agency_id,
                    st.handler, points[kind], st.submitted, limit, limit,
                )  # fmt: skip
            else:  # suspension
                key = (kind, "", 1)
                st.fired[key] = at
                rec = Record(
                    self._clock_record_id(st, key, at), kind, case_id, None, at, item.code, st.agency_id,
                    st.suspended_by, points[kind], st.suspended_at, item.max_suspension, item.max_suspension,
                )  # fmt: skip
            if at >= covered_end:
                rec.detail = _beyond(item.calendar)
            out.append(rec)
        st.next_due = timers[0][0] if timers else None
        return out


_NEVER = 2**62


def _cover_end(calendar: object) -> int:
    """The first instant past the calendar's listed holidays; never, for natural time or an undeclared cover."""
    end = calendar.covered_end if isinstance(calendar, BusinessCalendar) else None
    return _NEVER if end is None else end


def _beyond(calendar: object) -> dict[str, Any]:
    """A record timed past the last day its calendar lists holidays for says so (it may be wrong there)."""
    assert isinstance(calendar, BusinessCalendar) and calendar.last_covered_day is not None  # only past a cover
    return {"beyond_calendar": calendar.last_covered_day.isoformat()}
