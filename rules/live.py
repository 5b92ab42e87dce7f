"""The engine on the wall clock: what the live pipeline does with one event or one tick.

Still pure: the caller passes ``now``.  Per case, events apply in arrival order
(contract §6).  Before an event at ``t`` the clocks are fired up to ``t`` — the
event itself proves they ran that long, as in replay — then the event applies
(a late one may revoke records it disproves), then whatever the wall clock says
is due (``at + grace <= now``) is raised.  Applying before the wall-clock firing
means a completion that arrives late but within the grace stops the overdue
from being raised at all instead of raising and revoking it.
"""

from __future__ import annotations

from rules.engine import CaseState, Engine, Output
from rules.events import Event
from rules.records import Record


def due_before(now: int, grace: int) -> int:
    """Timers strictly before this instant are due on the wall clock."""
    return now - grace + 1


def on_event(engine: Engine, st: CaseState | None, ev: Event, now: int, grace: int) -> tuple[CaseState, list[Output]]:
    out: list[Output] = []
    if st is not None:
        if ev.event_id in st.seen:
            return st, out
        out.extend(engine.fire(st, ev.t))
    st, applied = engine.apply(st, ev)
    out.extend(applied)
    out.extend(engine.fire(st, due_before(now, grace)))
    return st, out


def on_tick(engine: Engine, st: CaseState, now: int, grace: int) -> list[Record]:
    return engine.fire(st, due_before(now, grace))
