"""Planning a case's timers: the instants at which its running clocks will reach their levels.

Timing is derived, never ticked: after every event the engine recomputes,
from the case's facts, when each running clock reaches each level, counting
working seconds of the item's calendar outside the case's suspensions.
"""

from __future__ import annotations

from rules.calendar import Calendar
from rules.pack import RulePack
from rules.state import CaseState, StepClock, Timer


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


class Planner:
    """The timer half of the engine (``rules.engine.Engine`` applies events and fires what is due)."""

    pack: RulePack

    def capped(self, kind: str | None) -> bool:
        """Whether a suspension of ``kind`` counts toward max_suspension_hours (no kind: it does; §7.5)."""
        return kind is None or self.pack.suspension_kinds.get(kind, True)

    def _case_timers(self, st: CaseState) -> list[Timer]:
        item = st.item
        assert item is not None
        if item.limit is None or ("case_overdue", "") in st.fired:
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
        if item.max_suspension is None or ("suspension", "") in st.fired or not self.capped(st.suspended_kind):
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

    def _level_now(self, st: CaseState, kind: str, step: str) -> int | None:
        """Where the level of an already raised record lies on the facts known now; None if never reached."""
        item = st.item
        assert item is not None
        cal, susp, open_since = item.calendar, st.suspensions, st.suspended_at
        if kind == "suspension":
            if item.max_suspension is None:
                return None
            need = item.max_suspension + 1
            capped = [x for x in susp if x not in st.uncapped] if st.uncapped else list(susp)
            spans: list[tuple[int, int | None]] = list(capped)
            if open_since is not None and self.capped(st.suspended_kind):
                spans.append((open_since, None))
            for s, e in spans:
                w = cal.work(s, e) if e is not None else need
                if w >= need:
                    at = cal.after(s, need) - 1
                    return at if e is None or at < e else None
                need -= w
            return None
        if kind == "case_overdue":
            start, end, n = st.submitted, st.completed, item.limit
        else:
            clock = st.steps.get(step)
            if clock is None:
                return None
            spec = item.step_index[step]
            start, end = clock.start, clock.end
            n = spec.reminder if kind == "reminder" else spec.warning if kind == "warning" else spec.limit
        assert n is not None
        (level,) = level_instants(cal, start, [n], susp, open_since)
        return None if level is None or (end is not None and end <= level) else level
