"""Many cases in event time: the shared driver of ``replay``, the simulator's checks and benchmarks.

Events must arrive in application order (``occurred_at``, ties in arrival
order).  Before each event the driver fires every case's timers strictly
before it, in ``at`` order across all cases, from one heap keyed by each
case's next due instant — no scans, whatever the number of open cases.

Memory follows open cases, not history: a case that can raise nothing more
(completed, or never validly submitted) is kept only for ``retain_seconds`` of
event time after its last event, long enough to skip duplicates of its events
and to reject late ones with the right reason, then evicted.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Iterator

from rules.engine import CaseState, Engine, Output
from rules.events import Event
from rules.records import Record

DEFAULT_RETAIN_SECONDS = 7 * 86400


class Replayer:
    def __init__(self, engine: Engine, retain_seconds: int = DEFAULT_RETAIN_SECONDS) -> None:
        self.engine = engine
        self.cases: dict[str, CaseState] = {}
        self.retain = retain_seconds
        self._due: list[tuple[int, int, str]] = []  # (next_due, tiebreak, case_id); stale entries skipped
        self._tick = 0
        self._evict: deque[tuple[int, str]] = deque()  # (evict at or after, case_id)
        self.now = -(2**62)

    def _schedule(self, st: CaseState) -> None:
        due = st.next_due
        if due is not None:
            self._tick += 1
            heapq.heappush(self._due, (due, self._tick, st.case_id))

    def advance(self, before: int) -> Iterator[Record]:
        """Raise every record with ``at < before``, in ``at`` order."""
        due, cases, fire = self._due, self.cases, self.engine.fire
        while due and due[0][0] < before:
            at, _, case_id = heapq.heappop(due)
            st = cases.get(case_id)
            if st is None or st.next_due != at:
                continue  # superseded by a later plan
            # One instant at a time keeps the output in global `at` order.
            yield from fire(st, at + 1)
            self._schedule(st)
        if before > self.now:
            self.now = before
        ev = self._evict
        while ev and ev[0][0] <= before:
            _, case_id = ev.popleft()
            st = cases.get(case_id)
            if st is not None and st.closed and st.last_t + self.retain <= before:
                del cases[case_id]

    def feed(self, ev: Event) -> Iterator[Output]:
        yield from self.advance(ev.t)
        st = self.cases.get(ev.case_id)
        before = st.next_due if st is not None else None
        st, out = self.engine.apply(st, ev)
        self.cases[ev.case_id] = st
        yield from out
        if st.next_due != before:
            self._schedule(st)
        if st.closed:
            self._evict.append((st.last_t + self.retain, st.case_id))

    def run(self, events: Iterable[Event], until: int) -> Iterator[Output]:
        """Apply ``events`` (in application order) before ``until`` and judge clocks at it."""
        for ev in events:
            if ev.t >= until:
                break
            yield from self.feed(ev)
        yield from self.advance(until)

    @property
    def open_cases(self) -> int:
        return sum(1 for st in self.cases.values() if not st.closed)
