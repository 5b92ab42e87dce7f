"""The engine: per-case state, one event at a time, records when clocks pass their levels.

Timing is derived, never ticked.  A case keeps the facts (when each step
started and ended, each suspension, fees so far) and, after every event, the
engine recomputes the instants at which each running clock will reach its
levels.  Those instants are the case's timers; ``fire(state, before)`` raises
the ones strictly before an instant.  Replay passes event time, the live
pipeline passes the wall clock minus a grace: one implementation for both.

A clock is judged at a level when it runs strictly past the level instant, so
before applying an event at ``t`` callers fire timers ``< t``: a completion at
exactly the deadline is on time, a suspension at it is not.
"""

from __future__ import annotations

import bisect
from typing import Any

from rules.clocks import extend, start_clock
from rules.events import (
    CASE_COMPLETED,
    CASE_RESUMED,
    CASE_SUBMITTED,
    CASE_SUSPENDED,
    FEE_CHARGED,
    LIMIT_EXTENDED,
    STEP_COMPLETED,
    STEP_STARTED,
    Event,
    Rejection,
)
from rules.firing import Firing
from rules.pack import RulePack
from rules.records import LATE_REPORT, Record, record_id
from rules.state import CaseState, StepClock, Timer, state_from_json, state_to_json
from rules.timeutil import format_instant
from rules.workflow import Workflow

__all__ = ["CaseState", "Engine", "Output", "StepClock", "Timer", "state_from_json", "state_to_json"]

Output = Record | Rejection


class Engine(Firing):
    """Applies events to case states under one rule pack; holds no state of its own."""

    def __init__(self, pack: RulePack) -> None:
        self.pack = pack
        self.points = pack.points
        self.workflow = Workflow(pack)

    # -- records ------------------------------------------------------------
    def _record(
        self,
        st: CaseState,
        kind: str,
        step: str | None,
        at: int,
        handler: str | None,
        extra: str = "",
        detail: dict[str, Any] | None = None,
        cycle: int = 1,
    ) -> Record:
        assert st.item is not None
        return Record(
            record_id(st.case_id, kind, step, at, extra if cycle == 1 else f"{extra}c{cycle}"),
            kind,
            st.case_id,
            step,
            at,
            st.item.code,
            st.agency_id,
            handler,
            self.points[kind],
            detail=detail,
            cycle=cycle,
        )

    # -- events ---------------------------------------------------------------
    def apply(self, st: CaseState | None, ev: Event) -> tuple[CaseState, list[Output]]:
        """Apply one event; the caller must already have fired the case's timers ``< ev.t``."""
        if st is None:
            st = CaseState(ev.case_id)
        elif ev.event_id in st.seen:
            return st, []  # a duplicate: skipped silently, whatever became of the first
        st.seen.add(ev.event_id)
        if ev.t > st.last_t:
            st.last_t = ev.t
        out: list[Output] = []
        late = bool(st.fired) and ev.t <= max(st.fired.values())
        problem = self._change(st, ev, out)
        if problem is not None:
            code, reason = problem
            out.append(Rejection(ev.seq, ev.event_id, ev.case_id, code, reason, ev.raw))
            return st, out
        if late:
            self._revise(st, ev, out)
        self._late_report(st, ev, out)
        return st, out

    def _late_report(self, st: CaseState, ev: Event, out: list[Output]) -> None:
        """Contract §7.8: an applied event reported later than its item allows costs points when received."""
        item = st.item
        if ev.received is None or item is None or item.max_report_delay is None:
            return
        delay = ev.received - ev.t
        if delay <= item.max_report_delay:
            return
        step = ev.step if ev.type in (STEP_STARTED, STEP_COMPLETED, LIMIT_EXTENDED) else None
        clock = None if step is None else st.steps.get(step)
        detail = {"event_id": ev.event_id, "event_type": ev.type, "occurred_at": format_instant(ev.t),
                  "reporting_delay_seconds": delay, "max_report_delay_seconds": item.max_report_delay}  # fmt: skip
        out.append(self._record(st, LATE_REPORT, step, ev.received, ev.handler_id, extra=ev.event_id, detail=detail,
                                cycle=1 if clock is None else clock.cycle))  # fmt: skip

    def _change(self, st: CaseState, ev: Event, out: list[Output]) -> tuple[str, str] | None:
        typ, t = ev.type, ev.t
        item = st.item
        if typ == CASE_SUBMITTED:
            if item is not None:
                return (
                    "duplicate_submission",
                    f"case {st.case_id!r} was already submitted at {format_instant(st.submitted)}",
                )
            assert ev.item_code is not None and ev.agency_id is not None
            item = self.pack.item_at(ev.item_code, t)
            if item is None:
                return "unknown_item", self._no_item(ev.item_code, t)
            st.item, st.agency_id, st.submitted, st.handler = item, ev.agency_id, t, ev.handler_id
            if item.limit_days is not None:
                st.case_clock = start_clock(item, item.limit_days, t, ev.handler_id)
            if item.has_case_clock:
                st.set_timers(self._case_timers(st))
            return None
        if item is None:
            return "unknown_case", f"case {st.case_id!r} has no case_submitted applied before this event"
        if st.completed is not None:
            return "case_completed", f"case {st.case_id!r} was completed at {format_instant(st.completed)}"
        if typ in (STEP_STARTED, STEP_COMPLETED):
            assert ev.step is not None
            spec = item.step_index.get(ev.step)
            if spec is None:
                names = ", ".join(s.name for s in item.steps)
                return "unknown_step", f"`step` {ev.step!r} is not a step of item {item.code!r} ({names})"
            clock = st.steps.get(ev.step)
            if typ == STEP_STARTED:
                cycle = 1
                if clock is not None:
                    if clock.end is None:
                        return (
                            "step_already_started",
                            f"step {ev.step!r} (cycle {clock.cycle}) was started at {format_instant(clock.start)} "
                            "and is still running; complete it before starting it again",
                        )
                    st.past.setdefault(ev.step, []).append(clock)  # rework (退回): a new cycle (§7.4)
                    cycle = clock.cycle + 1
                clock = st.steps[ev.step] = start_clock(item, spec.limit_days, t, ev.handler_id, cycle)
                st.set_timers(st.timers + self._step_timers(st, ev.step, clock, fresh=True))
                steps = st.steps
                for prior in spec.required_before:
                    done = steps.get(prior)
                    if done is None or done.end is None:
                        out.append(self._record(st, "procedure", ev.step, t, ev.handler_id,
                                                detail={"missing_step": prior}, cycle=cycle))  # fmt: skip
                        break
                return None
            if clock is None:
                return "step_not_started", f"step {ev.step!r} was never started"
            if t < clock.start:
                return (
                    "completed_before_start",
                    f"step {ev.step!r} started at {format_instant(clock.start)}, after this",
                )
            if clock.end is not None:
                return (
                    "step_already_completed",
                    f"step {ev.step!r} was already completed at {format_instant(clock.end)}",
                )
            clock.end = t
            name = ev.step
            timers = st.timers
            kept = [x for x in timers if x[2] != name]
            if len(kept) != len(timers):
                st.set_timers(kept)
            return None
        if typ == LIMIT_EXTENDED:
            problem = extend(st, ev)
            if problem is None:
                self.plan(st)
            return problem
        if typ == CASE_SUSPENDED:
            if st.suspended_at is not None:
                return "already_suspended", f"case {st.case_id!r} is suspended since {format_instant(st.suspended_at)}"
            kind = ev.suspension_kind
            if kind is not None and kind not in self.pack.suspension_kinds:
                known = ", ".join(sorted(self.pack.suspension_kinds)) or "none are declared"
                return (
                    "unknown_suspension_kind",
                    f"`kind` {kind!r} is not a suspension kind of rule pack {self.pack.source} ({known}); "
                    "use a declared kind, or leave it out",
                )
            st.suspended_at, st.suspended_by, st.suspended_kind = t, ev.handler_id, kind
            # Levels reached by now stand; every later one waits for the resumption.
            kept = [x for x in st.timers if x[0] <= t]
            kept.extend(self._suspension_timer(st))
            st.set_timers(kept)
            return None
        if typ == CASE_RESUMED:
            if st.suspended_at is None:
                return "not_suspended", f"case {st.case_id!r} is not suspended"
            if t < st.suspended_at:
                return (
                    "resumed_before_suspended",
                    f"case {st.case_id!r} was suspended at {format_instant(st.suspended_at)}",
                )
            self._close_suspension(st, t)
            self.plan(st)
            return None
        if typ == FEE_CHARGED:
            assert ev.fee is not None
            st.fees += ev.fee
            if item.fee_limit is not None and st.fees > item.fee_limit:
                out.append(
                    self._record(
                        st,
                        "fee",
                        None,
                        t,
                        ev.handler_id,
                        extra=ev.event_id,
                        detail={"fee_total": str(st.fees), "fee_limit": str(item.fee_limit)},
                    )
                )
            return None
        if typ == CASE_COMPLETED:
            if ev.outcome in (None, "approved"):  # refused and withdrawn cases end early, legitimately (§7.3)
                for spec in item.steps:
                    if not spec.optional and spec.name not in st.steps:
                        out.append(self._record(st, "procedure", spec.name, t, ev.handler_id, extra="skipped",
                                                detail={"skipped_step": spec.name}))  # fmt: skip
            for clock in st.steps.values():
                if clock.end is None:
                    clock.end = t
            if st.suspended_at is not None:
                self._close_suspension(st, t)
            st.completed = t
            st.set_timers([])
            return None
        raise AssertionError(f"unhandled event type {typ}")  # decode() admits no other

    def _no_item(self, code: str, t: int) -> str:
        versions = self.pack.versions.get(code)
        if not versions:
            return (
                f"`item_code` {code!r} is not in rule pack {self.pack.source}; add the item to the pack or fix the code"
            )
        first = versions[0].effective_from
        assert first is not None  # a version without effective_from is in force from the beginning
        return (
            f"no version of item {code!r} is in force at {format_instant(t)}: the first takes effect "
            f"{format_instant(first)} (rule pack {self.pack.source}); add a version for earlier cases or fix the time"
        )

    def _close_suspension(self, st: CaseState, t: int) -> None:
        assert st.item is not None and st.suspended_at is not None
        s = st.suspended_at
        bisect.insort(st.suspensions, (s, t))  # a late event may close an earlier one
        if self.capped(st.suspended_kind):
            st.suspended_total += st.item.calendar.work(s, t)
        else:
            bisect.insort(st.uncapped, (s, t))
        st.suspended_at, st.suspended_kind = None, None
