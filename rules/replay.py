"""Many cases in event time: the shared driver of ``replay``, the simulator's checks and benchmarks.

Events must arrive in application order (``occurred_at``, ties in arrival
order).  Before each event the driver fires every case's timers strictly
before it, in ``at`` order across all cases, from a due-index keyed by each
case's next due instant — no scans, whatever the number of open cases.

Memory follows open cases, not history: a case that can raise nothing more
(completed, or never validly submitted) is kept only for ``retain_seconds`` of
event time after its last event, long enough to skip duplicates of its events
and to reject late ones with the right reason, then evicted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

from rules.dueindex import DueIndex
from rules.engine import CaseState, Engine, Output
from rules.events import Event
from rules.records import Record

DEFAULT_RETAIN_SECONDS = 7 * 86400


class Replayer:
    """Drives the engine over events in application order; outputs go to ``sink``.

    A callback rather than generators: this loop runs once per event and once
    per record, and chained generators cost more than the engine itself.
    """

    def __init__(
        self, engine: Engine, sink: Callable[[Output], object], retain_seconds: int = DEFAULT_RETAIN_SECONDS
    ) -> None:
        self.engine = engine
        self.sink = sink
        self.cases: dict[str, CaseState] = {}
        self.retain = retain_seconds
        self.duplicates = 0
        self.due: DueIndex[str] = DueIndex()
        self._evict: deque[tuple[int, str]] = deque()  # (evict at or after, case_id)
        self.until: int | None = None  # records of events (late reports) at or after it are not raised

    def advance(self, before: int) -> None:
        """Raise every record with ``at < before``, in ``at`` order across cases."""
        pop, cases, fire, sink, push = self.due.pop_before, self.cases, self.engine.fire, self.sink, self.due.push
        while (entry := pop(before)) is not None:
            at, case_id = entry
            st = cases.get(case_id)
            if st is None or st.scheduled != at:
                continue  # superseded: a newer entry for the case is in the index
            st.scheduled = None
            if st.next_due == at:
                for rec in fire(st, at + 1):  # one instant at a time keeps global order
                    sink(rec)
            nd = st.next_due
            if nd is not None:  # woke early, or more timers remain: sleep until the next one
                st.scheduled = nd
                push(nd, case_id)
        ev = self._evict
        if ev and ev[0][0] <= before:
            while ev and ev[0][0] <= before:
                _, case_id = ev.popleft()
                st = cases.get(case_id)
                if st is not None and st.closed and st.last_t + self.retain <= before:
                    del cases[case_id]

    def feed(self, ev: Event) -> None:
        t, case_id = ev.t, ev.case_id
        if self.due.head < t or (self._evict and self._evict[0][0] <= t):
            self.advance(t)
        cases = self.cases
        st = cases.get(case_id)
        if st is not None and ev.event_id in st.seen:
            self.duplicates += 1
            return
        st, out = self.engine.apply(st, ev)
        cases[case_id] = st
        if out:
            until, sink = self.until, self.sink
            for item in out:
                if until is not None and type(item) is Record and item.at >= until:
                    continue  # a late report received after --until (contract §7.8)
                sink(item)
        nd = st.next_due
        # Invariant: an entry at or before the case's next due instant is in the index.
        if nd is not None and (st.scheduled is None or nd < st.scheduled):
            st.scheduled = nd
            self.due.push(nd, case_id)
        if st.closed:
            self._evict.append((st.last_t + self.retain, case_id))

    def run(self, events: Iterable[Event], until: int) -> None:
        """Apply ``events`` (in application order) before ``until`` and judge clocks at it."""
        feed = self.feed
        self.until = until
        for ev in events:
            if ev.t >= until:
                break
            feed(ev)
        self.advance(until)

    @property
    def open_cases(self) -> int:
        return sum(1 for st in self.cases.values() if not st.closed)


def replay_events(engine: Engine, events: Iterable[Event], until: int) -> list[Output]:
    """Sort, apply and judge a small in-memory history; for tests and tools."""
    out: list[Output] = []
    Replayer(engine, out.append).run(sorted(events, key=lambda e: (e.t, e.seq)), until)
    return out
