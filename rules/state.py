"""A case as the engine knows it: the facts of its clocks, what has fired, and its plain-JSON form.

Small on purpose: the live pipeline keeps one per open case in a changelog-
backed table.  Timers are derived from the facts (``rules.planning``), never
stored, so a case read back under a newer rule pack is re-planned by it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rules.errors import BadInput
from rules.pack import Item
from rules.workflow import Work

if TYPE_CHECKING:
    from rules.engine import Engine

_NO_FEES = Decimal(0)  # immutable: shared by every new case
Timer = tuple[int, str, str]  # (at, kind, step or ""): always the step's running (latest) cycle
Key = tuple[str, str, int]  # (kind, step or "", cycle): one level of one clock


class UnknownVersion(BadInput):
    """A running case bound an item version the rule pack no longer has (contract §7.7)."""

    def __init__(self, case_id: str, code: str, version: str) -> None:
        self.case_id, self.code, self.version = case_id, code, version
        super().__init__(f"case {case_id!r} was submitted under item {code!r} version {version}, not in the pack")


@dataclass(slots=True, init=False)
class StepClock:
    """One run of a clock: a step's cycle, or (as ``CaseState.case_clock``) the case's own limit.

    ``limits`` is the limit in force from the start and from each extension
    (contract §7.6), ``[(from, counted seconds), …]``; ``None`` means the
    step's hour limit, never extended — the common case, kept small.
    """

    start: int
    handler: str | None
    end: int | None = None
    cycle: int = 1
    limits: list[tuple[int, int]] | None = None
    last_day: int | None = None  # day clocks: the local day whose close of business is the deadline

    def __init__(
        self, start: int, handler: str | None, end: int | None = None, cycle: int = 1,
        limits: list[tuple[int, int]] | None = None, last_day: int | None = None,
    ) -> None:  # fmt: skip
        """Written out for the compiled core, as ``Event``'s is."""
        self.start, self.handler, self.end, self.cycle, self.limits, self.last_day = (
            start, handler, end, cycle, limits, last_day
        )  # fmt: skip

    def to_json(self) -> list[Any]:
        out: list[Any] = [self.start, self.handler, self.end]
        if self.cycle != 1 or self.limits is not None:
            out += [self.cycle, None if self.limits is None else [list(x) for x in self.limits], self.last_day]
        return out

    @classmethod
    def from_json(cls, v: list[Any]) -> StepClock:
        if len(v) == 3:
            return cls(v[0], v[1], v[2])
        limits = None if v[4] is None else [(a, n) for a, n in v[4]]
        return cls(v[0], v[1], v[2], v[3], limits, v[5])


@dataclass(slots=True, init=False)
class CaseState:
    """Everything the engine knows of one case; small, so it fits a table row.

    The initializer is written out for the compiled core (``rules.events.Event`` says why); empty
    collections are made per case, as the fields' factories say.
    """

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
    fired: dict[Key, int] = field(default_factory=dict)  # level -> at
    revised: dict[Key, int] = field(default_factory=dict)  # revocations so far, per level
    seen: set[str] = field(default_factory=set)
    timers: list[Timer] = field(default_factory=list)  # sorted; step "" for case-level clocks
    next_due: int | None = None
    scheduled: int | None = None  # the due-index entry the driver holds for this case
    last_t: int = 0
    partition: int = -1  # the events-topic partition the case lives on (live pipeline only)
    suspended_kind: str | None = None  # the open suspension's kind (contract §7.5)
    uncapped: list[tuple[int, int]] = field(default_factory=list)  # closed suspensions the cap ignores
    case_clock: StepClock | None = None  # the case limit's clock, when the item has one (days or extended)
    past: dict[str, list[StepClock]] = field(default_factory=dict)  # earlier cycles of reworked steps (§7.4)
    work: Work | None = None  # 督办, appeals and acknowledgements on the case (rules.workflow)

    def __init__(
        self, case_id: str, item: Item | None = None, agency_id: str = "", submitted: int = 0,
        handler: str | None = None, completed: int | None = None, steps: dict[str, StepClock] | None = None,
        suspensions: list[tuple[int, int]] | None = None, suspended_at: int | None = None,
        suspended_by: str | None = None, suspended_total: int = 0, fees: Decimal = _NO_FEES,
        fired: dict[Key, int] | None = None, revised: dict[Key, int] | None = None, seen: set[str] | None = None,
        timers: list[Timer] | None = None, next_due: int | None = None, scheduled: int | None = None,
        last_t: int = 0, partition: int = -1, suspended_kind: str | None = None,
        uncapped: list[tuple[int, int]] | None = None, case_clock: StepClock | None = None,
        past: dict[str, list[StepClock]] | None = None, work: Work | None = None,
    ) -> None:  # fmt: skip
        self.case_id, self.item, self.agency_id, self.submitted = case_id, item, agency_id, submitted
        self.handler, self.completed = handler, completed
        self.steps = {} if steps is None else steps
        self.suspensions = [] if suspensions is None else suspensions
        self.suspended_at, self.suspended_by, self.suspended_total = suspended_at, suspended_by, suspended_total
        self.fees = fees
        self.fired = {} if fired is None else fired
        self.revised = {} if revised is None else revised
        self.seen = set() if seen is None else seen
        self.timers = [] if timers is None else timers
        self.next_due, self.scheduled, self.last_t, self.partition = next_due, scheduled, last_t, partition
        self.suspended_kind = suspended_kind
        self.uncapped = [] if uncapped is None else uncapped
        self.case_clock = case_clock
        self.past = {} if past is None else past
        self.work = work

    def clock(self, step: str, cycle: int) -> StepClock | None:
        """A step's given cycle, running or past."""
        latest = self.steps.get(step)
        if latest is None or latest.cycle == cycle:
            return latest
        return next((c for c in self.past.get(step, ()) if c.cycle == cycle), None)

    def set_timers(self, timers: list[Timer]) -> None:
        timers.sort()
        self.timers = timers
        self.next_due = timers[0][0] if timers else None

    @property
    def due(self) -> int | None:
        """The earliest instant anything is raised: a clock's level or an order's escalation."""
        w = None if self.work is None else self.work.due
        if w is None:
            return self.next_due
        return w if self.next_due is None else min(w, self.next_due)

    @property
    def awaiting(self) -> bool:
        """An order or appeal is still open: the state is kept however long ago the case closed."""
        return self.work is not None and self.work.open

    @property
    def closed(self) -> bool:
        """Nothing more can be raised: completed, or never validly submitted."""
        return self.item is None or self.completed is not None


def state_to_json(st: CaseState) -> dict[str, Any]:
    """A case as plain JSON for a changelog-backed table; timers are derived, not stored."""
    return {
        "case_id": st.case_id,
        "item": None if st.item is None else st.item.code,
        **({"version": st.item.version} if st.item is not None else {}),
        "agency_id": st.agency_id,
        "submitted": st.submitted,
        "handler": st.handler,
        "completed": st.completed,
        "steps": {name: c.to_json() for name, c in st.steps.items()},
        **({"past": {n: [c.to_json() for c in cs] for n, cs in st.past.items()}} if st.past else {}),
        **({"case_clock": st.case_clock.to_json()} if st.case_clock is not None else {}),
        "suspensions": [list(s) for s in st.suspensions],
        "suspended_at": st.suspended_at,
        "suspended_by": st.suspended_by,
        "suspended_total": st.suspended_total,
        **({"suspended_kind": st.suspended_kind} if st.suspended_kind is not None else {}),
        **({"uncapped": [list(s) for s in st.uncapped]} if st.uncapped else {}),
        "fees": str(st.fees),
        "fired": [[k, s, at] if c == 1 else [k, s, at, c] for (k, s, c), at in st.fired.items()],
        "revised": [[k, s, n] if c == 1 else [k, s, n, c] for (k, s, c), n in st.revised.items()],
        "seen": sorted(st.seen),
        "last_t": st.last_t,
        "partition": st.partition,
        **({"work": st.work.to_json()} if st.work is not None else {}),
    }


def bound_item(engine: Engine, d: dict[str, Any]) -> Item | None:
    """The item version the case bound at submission; a state from before versions binds the one then in force."""
    code = d["item"]
    if code is None:
        return None
    version = d.get("version")
    item = engine.pack.item_at(code, d["submitted"]) if version is None else engine.pack.bound(code, version)
    if item is None:
        raise UnknownVersion(d["case_id"], code, version or "(any)")
    return item


def _key(v: list[Any]) -> tuple[Key, int]:
    return (v[0], v[1], v[3] if len(v) > 3 else 1), v[2]


def state_from_json(engine: Engine, d: dict[str, Any]) -> CaseState:
    """Rebuild a case under the version of its item it bound, and re-plan its timers."""
    item = bound_item(engine, d)
    st = CaseState(
        d["case_id"],
        item,
        d["agency_id"],
        d["submitted"],
        d["handler"],
        d["completed"],
        {name: StepClock.from_json(c) for name, c in d["steps"].items()},
        [(s, e) for s, e in d["suspensions"]],
        d["suspended_at"],
        d["suspended_by"],
        d["suspended_total"],
        Decimal(d["fees"]),
        dict(_key(v) for v in d["fired"]),
        dict(_key(v) for v in d.get("revised", [])),
        set(d["seen"]),
        last_t=d["last_t"],
        partition=d["partition"],
        suspended_kind=d.get("suspended_kind"),
        uncapped=[(s, e) for s, e in d.get("uncapped", ())],
        case_clock=None if "case_clock" not in d else StepClock.from_json(d["case_clock"]),
        past={n: [StepClock.from_json(c) for c in cs] for n, cs in d.get("past", {}).items()},
        work=None if "work" not in d else Work.from_json(d["work"]),
    )
    engine.plan(st)
    return st
