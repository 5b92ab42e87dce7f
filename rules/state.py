"""A case as the engine knows it: the facts of its clocks, what has fired, and its plain-JSON form.

Small on purpose: the live pipeline keeps one per open case in a changelog-
backed table.  Timers are derived from the facts (``rules.planning``), never
stored, so a case read back under a newer rule pack is re-planned by it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rules.pack import Item

if TYPE_CHECKING:
    from rules.engine import Engine

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
    suspended_total: int = 0  # counted seconds inside closed suspensions of capped kinds
    fees: Decimal = Decimal(0)
    fired: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, step or "") -> at
    revised: dict[tuple[str, str], int] = field(default_factory=dict)  # revocations so far, per level
    seen: set[str] = field(default_factory=set)
    timers: list[Timer] = field(default_factory=list)  # sorted; step "" for case-level clocks
    next_due: int | None = None
    scheduled: int | None = None  # the due-index entry the driver holds for this case
    last_t: int = 0
    partition: int = -1  # the events-topic partition the case lives on (live pipeline only)
    suspended_kind: str | None = None  # the open suspension's kind (contract §7.5)
    uncapped: list[tuple[int, int]] = field(default_factory=list)  # closed suspensions the cap ignores

    def set_timers(self, timers: list[Timer]) -> None:
        timers.sort()
        self.timers = timers
        self.next_due = timers[0][0] if timers else None

    @property
    def closed(self) -> bool:
        """Nothing more can be raised: completed, or never validly submitted."""
        return self.item is None or self.completed is not None


def state_to_json(st: CaseState) -> dict[str, Any]:
    """A case as plain JSON for a changelog-backed table; timers are derived, not stored."""
    return {
        "case_id": st.case_id,
        "item": None if st.item is None else st.item.code,
        "agency_id": st.agency_id,
        "submitted": st.submitted,
        "handler": st.handler,
        "completed": st.completed,
        "steps": {name: [c.start, c.handler, c.end] for name, c in st.steps.items()},
        "suspensions": [list(s) for s in st.suspensions],
        "suspended_at": st.suspended_at,
        "suspended_by": st.suspended_by,
        "suspended_total": st.suspended_total,
        **({"suspended_kind": st.suspended_kind} if st.suspended_kind is not None else {}),
        **({"uncapped": [list(s) for s in st.uncapped]} if st.uncapped else {}),
        "fees": str(st.fees),
        "fired": [[k, s, at] for (k, s), at in st.fired.items()],
        "revised": [[k, s, n] for (k, s), n in st.revised.items()],
        "seen": sorted(st.seen),
        "last_t": st.last_t,
        "partition": st.partition,
    }


def state_from_json(engine: Engine, d: dict[str, Any]) -> CaseState:
    """Rebuild a case and re-plan its timers under the engine's (possibly newer) rule pack."""
    item = None if d["item"] is None else engine.pack.items.get(d["item"])
    st = CaseState(
        d["case_id"],
        item,
        d["agency_id"],
        d["submitted"],
        d["handler"],
        d["completed"],
        {name: StepClock(s, h, e) for name, (s, h, e) in d["steps"].items()},
        [(s, e) for s, e in d["suspensions"]],
        d["suspended_at"],
        d["suspended_by"],
        d["suspended_total"],
        Decimal(d["fees"]),
        {(k, s): at for k, s, at in d["fired"]},
        {(k, s): n for k, s, n in d.get("revised", [])},
        set(d["seen"]),
        last_t=d["last_t"],
        partition=d["partition"],
        suspended_kind=d.get("suspended_kind"),
        uncapped=[(s, e) for s, e in d.get("uncapped", ())],
    )
    engine.plan(st)
    return st
