"""The engine on the wall clock: what the live pipeline does with one event or one tick.

Still pure: the caller passes ``now``.  Per case, events apply in arrival order
(contract §6).  Before an event at ``t`` the clocks are fired up to ``t`` — the
event itself proves they ran that long, as in replay — then the event applies
(a late one may revoke records it disproves), then whatever the wall clock says
is due (``at + grace <= now``) is raised.  Applying before the wall-clock firing
means a completion that arrives late but within the grace stops the overdue
from being raised at all instead of raising and revoking it.

The worker passes ``now=None`` and fires the wall clock once per case after a
whole batch of events (``on_tick``): a backlog that holds a step's start and its
completion then raises nothing the completion disproves.
"""

from __future__ import annotations

from rules.actions import Action
from rules.engine import CaseState, Engine, Output
from rules.events import Event
from rules.records import Record
from rules.workflow import Work


def due_before(now: int, grace: int) -> int:
    """Timers strictly before this instant are due on the wall clock."""
    return now - grace + 1


def on_event(
    engine: Engine, st: CaseState | None, ev: Event, now: int | None = None, grace: int = 0
) -> tuple[CaseState, list[Output]]:
    """Apply ``ev`` in event time, then (unless ``now`` is None) fire what the wall clock says is due."""
    out: list[Output] = []
    if st is not None:
        if ev.event_id in st.seen:
            return st, out
        out.extend(engine.fire(st, ev.t))
    st, applied = engine.apply(st, ev)
    out.extend(applied)
    if now is not None:
        out.extend(engine.fire(st, due_before(now, grace)))
    return st, out


def on_action(engine: Engine, st: CaseState | None, a: Action) -> tuple[CaseState, list[Output]]:
    """Apply a supervisor's or agency's action (``rules.workflow``) at its instant.

    Orders due before it are escalated first — a reply that comes after the due
    time does not undo the red card — but no clock is fired on the action's
    instant: that stays the wall clock's and the events' (with its grace).
    """
    if st is None:
        st = CaseState(a.case_id)
    work = st.work if st.work is not None else Work()
    out: list[Output] = []
    out.extend(engine.workflow.fire(work, st.case_id, a.at))
    out.extend(engine.workflow.apply(work, st.case_id, a))
    if work.done:
        st.work = work
        st.last_t = max(st.last_t, a.at)
    return st, out


def on_tick(engine: Engine, st: CaseState, now: int, grace: int) -> list[Record]:
    before = due_before(now, grace)
    fired = engine.fire(st, before)
    if st.work is not None:
        fired.extend(engine.workflow.fire(st.work, st.case_id, before))
    return fired
