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

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rules.calendar import Calendar
from rules.events import (
    CASE_COMPLETED,
    CASE_RESUMED,
    CASE_SUBMITTED,
    CASE_SUSPENDED,
    FEE_CHARGED,
    STEP_COMPLETED,
    STEP_STARTED,
    Event,
    Rejection,
)
from rules.pack import Item, RulePack
from rules.records import Record, record_id
from rules.timeutil import format_instant

Output = Record | Rejection
Timer = tuple[int, str, str]  # (at, kind, step or "")


@dataclass(slots=True)
class StepClock:
    start: int
    handler: str | None
    end: int | None = None


@dataclass(slots=True)
class CaseState:
    """Everything the engine knows of one case; small, so it fits a table row."""

    case_id: str
    item: Item | None = None
    agency_id: str = ""
    submitted: int = 0
    handler: str | None = None
    completed: int | None = None
    steps: dict[str, StepClock] = field(default_factory=dict)
    suspensions: list[tuple[int, int]] = field(default_factory=list)
    suspended_at: int | None = None
    suspended_by: str | None = None
    suspended_total: int = 0  # counted seconds inside closed suspensions
    fees: Decimal = Decimal(0)
    fired: set[tuple[str, str | None]] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)
    timers: list[Timer] = field(default_factory=list)  # sorted; step "" for case-level clocks
    next_due: int | None = None
    scheduled: int | None = None  # the due-index entry the driver holds for this case
    last_t: int = 0

    def set_timers(self, timers: list[Timer]) -> None:
        timers.sort()
        self.timers = timers
        self.next_due = timers[0][0] if timers else None

    @property
    def closed(self) -> bool:
        """Nothing more can be raised: completed, or never validly submitted."""
        return self.item is None or self.completed is not None


def level_instants(
    cal: Calendar,
    start: int,
    levels: list[int],
    suspensions: list[tuple[int, int]],
    open_since: int | None,
) -> list[int | None]:
    """For ascending ``levels`` (counted seconds), the earliest instants the clock reaches them.

    The clock counts working seconds from ``start`` outside the case's
    suspensions; ``None`` means not reachable while an open suspension lasts.
    """
    out: list[int | None] = []
    k = 0
    cur, done = start, 0  # counted seconds in [start, cur)
    gaps = [(s, e) for s, e in suspensions if e > start]
    if open_since is not None:
        gaps.append((open_since, -1))
    for s, e in gaps:
        if s > cur:
            w = cal.work(cur, s)
            while k < len(levels) and levels[k] <= done + w:
                out.append(cal.after(cur, levels[k] - done))
                k += 1
            if k == len(levels):
                return out
            done += w
        if e == -1:
            return out + [None] * (len(levels) - k)
        cur = max(cur, e)
    while k < len(levels):
        out.append(cal.after(cur, levels[k] - done))
        k += 1
    return out


class Engine:
    """Applies events to case states under one rule pack; holds no state of its own."""

    def __init__(self, pack: RulePack) -> None:
        self.pack = pack
        self.points = pack.points

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
    ) -> Record:
        assert st.item is not None
        return Record(
            record_id(st.case_id, kind, step, at, extra),
            kind,
            st.case_id,
            step,
            at,
            st.item.code,
            st.agency_id,
            handler,
            self.points[kind],
            detail=detail,
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
        problem = self._change(st, ev, out)
        if problem is not None:
            code, reason = problem
            out.append(Rejection(ev.seq, ev.event_id, ev.case_id, code, reason, ev.raw))
        return st, out

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
            item = self.pack.items.get(ev.item_code)
            if item is None:
                return (
                    "unknown_item",
                    f"`item_code` {ev.item_code!r} is not in rule pack {self.pack.source};"
                    " add the item to the pack or fix the code",
                )
            st.item, st.agency_id, st.submitted, st.handler = item, ev.agency_id, t, ev.handler_id
            if item.limit is not None:
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
                if clock is not None:
                    return (
                        "step_already_started",
                        f"step {ev.step!r} was already started at {format_instant(clock.start)}",
                    )
                clock = st.steps[ev.step] = StepClock(t, ev.handler_id)
                st.set_timers(st.timers + self._step_timers(st, ev.step, clock, fresh=True))
                steps = st.steps
                for prior in spec.required_before:
                    done = steps.get(prior)
                    if done is None or done.end is None:
                        out.append(
                            self._record(st, "procedure", ev.step, t, ev.handler_id, detail={"missing_step": prior})
                        )
                        break
                return None
            if clock is None:
                return "step_not_started", f"step {ev.step!r} was never started"
            if clock.end is not None:
                return (
                    "step_already_completed",
                    f"step {ev.step!r} was already completed at {format_instant(clock.end)}",
                )
            clock.end = t
            name = ev.step
            if any(x[2] == name for x in st.timers):
                st.set_timers([x for x in st.timers if x[2] != name])
            return None
        if typ == CASE_SUSPENDED:
            if st.suspended_at is not None:
                return "already_suspended", f"case {st.case_id!r} is suspended since {format_instant(st.suspended_at)}"
            st.suspended_at, st.suspended_by = t, ev.handler_id
            # Levels reached by now stand; every later one waits for the resumption.
            kept = [x for x in st.timers if x[0] <= t]
            kept.extend(self._suspension_timer(st))
            st.set_timers(kept)
            return None
        if typ == CASE_RESUMED:
            if st.suspended_at is None:
                return "not_suspended", f"case {st.case_id!r} is not suspended"
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
            for clock in st.steps.values():
                if clock.end is None:
                    clock.end = t
            if st.suspended_at is not None:
                self._close_suspension(st, t)
            st.completed = t
            st.set_timers([])
            return None
        raise AssertionError(f"unhandled event type {typ}")  # decode() admits no other

    def _close_suspension(self, st: CaseState, t: int) -> None:
        assert st.item is not None and st.suspended_at is not None
        s = st.suspended_at
        st.suspensions.append((s, t))
        st.suspended_total += st.item.calendar.work(s, t)
        st.suspended_at = None

    # -- timers ---------------------------------------------------------------
    def _case_timers(self, st: CaseState) -> list[Timer]:
        item = st.item
        assert item is not None
        if item.limit is None or ("case_overdue", None) in st.fired:
            return []
        (at,) = level_instants(item.calendar, st.submitted, [item.limit], st.suspensions, st.suspended_at)
        return [] if at is None else [(at, "case_overdue", "")]

    def _step_timers(self, st: CaseState, name: str, clock: StepClock, fresh: bool = False) -> list[Timer]:
        """``fresh``: the step has just started, so none of its levels can have fired."""
        item = st.item
        assert item is not None
        levels = item.step_index[name].levels
        if not fresh and st.fired:
            fired = st.fired
            levels = tuple(lv for lv in levels if (lv[1], name) not in fired)
            if not levels:
                return []
        if not st.suspensions and st.suspended_at is None:
            ats: list[int | None] = item.calendar.after_many(clock.start, [n for n, _ in levels])  # type: ignore[assignment]
        else:
            ats = level_instants(item.calendar, clock.start, [n for n, _ in levels], st.suspensions, st.suspended_at)
        return [(at, kind, name) for at, (_, kind) in zip(ats, levels, strict=True) if at is not None]

    def _suspension_timer(self, st: CaseState) -> list[Timer]:
        item = st.item
        assert item is not None and st.suspended_at is not None
        if item.max_suspension is None or ("suspension", None) in st.fired:
            return []
        need = item.max_suspension + 1 - st.suspended_total
        # The first second beyond the allowance starts one second before the
        # instant at which counted suspension reaches allowance + 1.
        at = item.calendar.after(st.suspended_at, need) - 1 if need > 0 else st.suspended_at
        return [(at, "suspension", "")]

    def plan(self, st: CaseState) -> None:
        """Recompute every pending timer of the case from its facts."""
        if st.item is None or st.completed is not None:
            st.set_timers([])
            return
        timers = self._case_timers(st)
        for name, clock in st.steps.items():
            if clock.end is None:
                timers.extend(self._step_timers(st, name, clock))
        if st.suspended_at is not None:
            timers.extend(self._suspension_timer(st))
        st.set_timers(timers)

    def fire(self, st: CaseState, before: int) -> list[Record]:
        """Raise the case's records whose instants lie strictly before ``before``."""
        out: list[Record] = []
        timers = st.timers
        item = st.item
        assert item is not None or not timers
        points, case_id = self.points, st.case_id
        while timers and timers[0][0] < before:
            at, kind, name = timers.pop(0)
            assert item is not None
            if name:
                st.fired.add((kind, name))
                clock = st.steps[name]
                spec = item.step_index[name]
                n = spec.reminder if kind == "reminder" else spec.warning if kind == "warning" else spec.limit
                rec = Record(
                    record_id(case_id, kind, name, at), kind, case_id, name, at, item.code, st.agency_id,
                    clock.handler, points[kind], clock.start, n, spec.limit,
                )  # fmt: skip
            elif kind == "case_overdue":
                st.fired.add((kind, None))
                rec = Record(
                    record_id(case_id, kind, None, at), kind, case_id, None, at, item.code, st.agency_id,
                    st.handler, points[kind], st.submitted, item.limit, item.limit,
                )  # fmt: skip
            else:  # suspension
                st.fired.add((kind, None))
                rec = Record(
                    record_id(case_id, kind, None, at), kind, case_id, None, at, item.code, st.agency_id,
                    st.suspended_by, points[kind], st.suspended_at, item.max_suspension, item.max_suspension,
                )  # fmt: skip
            out.append(rec)
        st.next_due = timers[0][0] if timers else None
        return out
