"""Planning a case's timers: the instants at which its running clocks will reach their levels.

Timing is derived, never ticked: after every event the engine recomputes,
from the case's facts, when each running clock reaches each level, counting
working seconds of the item's calendar outside the case's suspensions.
"""

from __future__ import annotations

from collections.abc import Sequence

from rules.calendar import Calendar
from rules.pack import Item, RulePack
from rules.pack_spec import level_seconds
from rules.state import CaseState, StepClock, Timer

# Raised whenever a change to planning (or to what it reads) moves the instants planned for a stored state: a
# restarted worker trusts the wake-up instants it stored beside each state only under the same pack and revision.
PLANNING_REVISION = 1


def plan_id(pack: RulePack) -> str | None:
    """What a state's planned instants depend on besides its facts: the pack's text and planning's revision."""
    return f"{pack.digest[:8]}/{PLANNING_REVISION}" if pack.digest else None


def level_instants(
    cal: Calendar,
    start: int,
    levels: Sequence[int],
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


def counted(cal: Calendar, start: int, end: int, suspensions: list[tuple[int, int]], open_since: int | None) -> int:
    """A clock's counted seconds in ``[start, end)``: working time outside the case's suspensions."""
    total = cal.work(start, end)
    spans = list(suspensions)
    if open_since is not None:
        spans.append((open_since, end))
    for s, e in spans:
        lo, hi = max(s, start), min(e, end)
        if lo < hi:
            total -= cal.work(lo, hi)
    return total


def level_of(item: Item, kind: str, limit: int) -> int | None:
    """Counted seconds at which ``kind`` is judged on a clock with ``limit``; None if the item has no such level."""
    if kind == "reminder":
        return None if item.reminder_at is None else level_seconds(item.reminder_at, limit)
    if kind == "warning":
        return None if item.warning_at is None else level_seconds(item.warning_at, limit)
    return limit


STEP_LEVELS = ("reminder", "warning", "overdue")


def extended_level(st: CaseState, clock: StepClock, kind: str) -> tuple[int, int, int] | None:
    """``(at, level, limit)`` of a level of a clock with its own limits (day limit or extensions, §7.1, §7.6).

    With limits ``L0, L1, …`` in force from the start and from each
    extension ``e1 ≤ e2 ≤ …``, the level is raised at its instant under
    the first ``L_j`` whose instant comes before ``e_{j+1}`` (the last
    ``L_j`` has no bound); ``None``: not reachable while an open suspension lasts.
    """
    item = st.item
    assert item is not None and clock.limits is not None
    limits = clock.limits
    last = len(limits) - 1
    for j, (_, limit) in enumerate(limits):
        n = level_of(item, kind, limit)
        if n is None:
            return None
        (at,) = level_instants(item.calendar, clock.start, [n], st.suspensions, st.suspended_at)
        if j == last:
            return None if at is None else (at, n, limit)
        if at is not None and at < limits[j + 1][0]:
            return at, n, limit
    return None  # pragma: no cover - the loop returns at the last limit


def clock_level(st: CaseState, kind: str, step: str, cycle: int = 1) -> tuple[int, int, int] | None:
    """Where a clock's level lies on the facts known now: ``(at, level, limit)``, ignoring the clock's end."""
    item = st.item
    assert item is not None
    if kind == "case_overdue":
        clock = st.case_clock
        if clock is None:  # an hour limit never extended
            if item.limit is None:
                return None
            (at,) = level_instants(item.calendar, st.submitted, [item.limit], st.suspensions, st.suspended_at)
            return None if at is None else (at, item.limit, item.limit)
    else:
        clock = st.clock(step, cycle)
        if clock is None:
            return None
        if clock.limits is None:
            spec = item.step_index[step]
            assert spec.limit is not None
            n = spec.reminder if kind == "reminder" else spec.warning if kind == "warning" else spec.limit
            if n is None:
                return None
            (at,) = level_instants(item.calendar, clock.start, [n], st.suspensions, st.suspended_at)
            return None if at is None else (at, n, spec.limit)
    return extended_level(st, clock, kind)


class Planner:
    """The timer half of the engine (``rules.engine.Engine`` applies events and fires what is due)."""

    pack: RulePack

    def capped(self, kind: str | None) -> bool:
        """Whether a suspension of ``kind`` counts toward max_suspension_hours (no kind: it does; §7.5)."""
        return kind is None or self.pack.suspension_kinds.get(kind, True)

    def _case_timers(self, st: CaseState) -> list[Timer]:
        item = st.item
        assert item is not None
        if not item.has_case_clock or ("case_overdue", "", 1) in st.fired:
            return []
        lv = clock_level(st, "case_overdue", "")
        return [] if lv is None else [(lv[0], "case_overdue", "")]

    def _step_timers(self, st: CaseState, name: str, clock: StepClock, fresh: bool = False) -> list[Timer]:
        """``fresh``: the step has just started, so none of its levels can have fired."""
        item = st.item
        assert item is not None
        cycle = clock.cycle
        if clock.limits is not None:
            out: list[Timer] = []
            for kind in STEP_LEVELS:
                if fresh or (kind, name, cycle) not in st.fired:
                    lv = extended_level(st, clock, kind)
                    if lv is not None:
                        out.append((lv[0], kind, name))
            return out
        spec = item.step_index[name]
        levels, counts = spec.levels, spec.counts
        if not fresh and st.fired:
            fired = st.fired
            levels = tuple(lv for lv in levels if (lv[1], name, cycle) not in fired)
            if not levels:
                return []
            counts = tuple(n for n, _ in levels)
        if not st.suspensions and st.suspended_at is None:
            ats: list[int | None] = item.calendar.after_many(clock.start, counts)  # type: ignore[assignment]
        else:
            ats = level_instants(item.calendar, clock.start, counts, st.suspensions, st.suspended_at)
        return [(at, kind, name) for at, (_, kind) in zip(ats, levels, strict=True) if at is not None]

    def _suspension_timer(self, st: CaseState) -> list[Timer]:
        item = st.item
        assert item is not None and st.suspended_at is not None
        if item.max_suspension is None or ("suspension", "", 1) in st.fired or not self.capped(st.suspended_kind):
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

    def _level_now(self, st: CaseState, kind: str, step: str, cycle: int) -> int | None:
        """Where the level of an already raised record lies on the facts known now; None if never reached."""
        item = st.item
        assert item is not None
        if kind == "suspension":
            return self._suspension_now(st)
        lv = clock_level(st, kind, step, cycle)
        if lv is None:
            return None
        at = lv[0]
        clock = None if kind == "case_overdue" else st.clock(step, cycle)
        end = st.completed if clock is None else clock.end
        return None if end is not None and end <= at else at

    def _suspension_now(self, st: CaseState) -> int | None:
        item = st.item
        assert item is not None
        if item.max_suspension is None:
            return None
        cal, need = item.calendar, item.max_suspension + 1
        capped = [x for x in st.suspensions if x not in st.uncapped] if st.uncapped else list(st.suspensions)
        spans: list[tuple[int, int | None]] = list(capped)
        if st.suspended_at is not None and self.capped(st.suspended_kind):
            spans.append((st.suspended_at, None))
        for s, e in spans:
            w = cal.work(s, e) if e is not None else need
            if w >= need:
                at = cal.after(s, need) - 1
                return at if e is None or at < e else None
            need -= w
        return None
