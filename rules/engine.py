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
Timer = tuple[int, str, str | None]  # (at, kind, step)

_STEP_LEVELS = ("reminder", "warning", "overdue")


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
    timers: list[Timer] = field(default_factory=list)
    last_t: int = 0

    @property
    def next_due(self) -> int | None:
        return self.timers[0][0] if self.timers else None

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
            detail,
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
        else:
            self._plan(st)
        return st, out

    def _change(self, st: CaseState, ev: Event, out: list[Output]) -> tuple[str, str] | None:
        typ, t = ev.type, ev.t
        item = st.item
        if typ == CASE_SUBMITTED:
            if item is not None:
                return "duplicate_submission", f"case {st.case_id!r} was already submitted at {format_instant(st.submitted)}"
            assert ev.item_code is not None and ev.agency_id is not None
            item = self.pack.items.get(ev.item_code)
            if item is None:
                return "unknown_item", f"`item_code` {ev.item_code!r} is not in rule pack {self.pack.source}; add the item or fix the code"
            st.item, st.agency_id, st.submitted, st.handler = item, ev.agency_id, t, ev.handler_id
            return None
        if item is None:
            return "unknown_case", f"case {st.case_id!r} has no case_submitted applied before this event"
        if st.completed is not None:
            return "case_completed", f"case {st.case_id!r} was completed at {format_instant(st.completed)}"
        if typ == STEP_STARTED or typ == STEP_COMPLETED:
            assert ev.step is not None
            spec = item.step_index.get(ev.step)
            if spec is None:
                names = ", ".join(s.name for s in item.steps)
                return "unknown_step", f"`step` {ev.step!r} is not a step of item {item.code!r} ({names})"
            clock = st.steps.get(ev.step)
            if typ == STEP_STARTED:
                if clock is not None:
                    return "step_already_started", f"step {ev.step!r} was already started at {format_instant(clock.start)}"
                st.steps[ev.step] = StepClock(t, ev.handler_id)
                for prior in item.steps[: spec.index]:
                    if not prior.optional:
                        done = st.steps.get(prior.name)
                        if done is None or done.end is None:
                            out.append(
                                self._record(st, "procedure", ev.step, t, ev.handler_id, detail={"missing_step": prior.name})
                            )
                            break
                return None
            if clock is None:
                return "step_not_started", f"step {ev.step!r} was never started"
            if clock.end is not None:
                return "step_already_completed", f"step {ev.step!r} was already completed at {format_instant(clock.end)}"
            clock.end = t
            return None
        if typ == CASE_SUSPENDED:
            if st.suspended_at is not None:
                return "already_suspended", f"case {st.case_id!r} is suspended since {format_instant(st.suspended_at)}"
            st.suspended_at, st.suspended_by = t, ev.handler_id
            return None
        if typ == CASE_RESUMED:
            if st.suspended_at is None:
                return "not_suspended", f"case {st.case_id!r} is not suspended"
            self._close_suspension(st, t)
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
            return None
        raise AssertionError(f"unhandled event type {typ}")  # decode() admits no other

    def _close_suspension(self, st: CaseState, t: int) -> None:
        assert st.item is not None and st.suspended_at is not None
        s = st.suspended_at
        st.suspensions.append((s, t))
        st.suspended_total += st.item.calendar.work(s, t)
        st.suspended_at = None

    # -- timers ---------------------------------------------------------------
    def _plan(self, st: CaseState) -> None:
        """Recompute the case's pending timers from its facts."""
        timers: list[Timer] = []
        item = st.item
        if item is None or st.completed is not None:
            st.timers = timers
            return
        cal, fired, susp, open_since = item.calendar, st.fired, st.suspensions, st.suspended_at
        if item.limit is not None and ("case_overdue", None) not in fired:
            (at,) = level_instants(cal, st.submitted, [item.limit], susp, open_since)
            if at is not None:
                timers.append((at, "case_overdue", None))
        for name, clock in st.steps.items():
            if clock.end is not None:
                continue
            spec = item.step_index[name]
            kinds: list[str] = []
            levels: list[int] = []
            for kind, n in zip(_STEP_LEVELS, (spec.reminder, spec.warning, spec.limit), strict=True):
                if n is not None and (kind, name) not in fired:
                    kinds.append(kind)
                    levels.append(n)
            if not kinds:
                continue
            order = sorted(range(len(levels)), key=levels.__getitem__)
            ats = level_instants(cal, clock.start, [levels[i] for i in order], susp, open_since)
            for i, at in zip(order, ats, strict=True):
                if at is not None:
                    timers.append((at, kinds[i], name))
        if item.max_suspension is not None and open_since is not None and ("suspension", None) not in fired:
            need = item.max_suspension + 1 - st.suspended_total
            # The first second beyond the allowance starts one second before the
            # instant at which counted suspension reaches allowance + 1.
            at = cal.after(open_since, need) - 1 if need > 0 else open_since
            timers.append((at, "suspension", None))
        timers.sort(key=_timer_key)
        st.timers = timers

    def fire(self, st: CaseState, before: int) -> list[Record]:
        """Raise the case's records whose instants lie strictly before ``before``."""
        out: list[Record] = []
        timers = st.timers
        while timers and timers[0][0] < before:
            at, kind, step = timers.pop(0)
            st.fired.add((kind, step))
            assert st.item is not None
            if step is not None:
                clock = st.steps[step]
                spec = st.item.step_index[step]
                n = {"reminder": spec.reminder, "warning": spec.warning}.get(kind, spec.limit)
                detail = {"started_at": format_instant(clock.start), "level_seconds": n, "limit_seconds": spec.limit}
                out.append(self._record(st, kind, step, at, clock.handler, detail=detail))
            elif kind == "case_overdue":
                detail = {"started_at": format_instant(st.submitted), "level_seconds": st.item.limit, "limit_seconds": st.item.limit}
                out.append(self._record(st, kind, None, at, st.handler, detail=detail))
            else:  # suspension
                detail = {"suspended_at": format_instant(st.suspended_at or at), "limit_seconds": st.item.max_suspension}
                out.append(self._record(st, kind, None, at, st.suspended_by, detail=detail))
        return out


_KIND_ORDER = {"reminder": 0, "warning": 1, "overdue": 2, "case_overdue": 3, "suspension": 4}


def _timer_key(timer: Timer) -> tuple[int, int, str]:
    return timer[0], _KIND_ORDER[timer[1]], timer[2] or ""
