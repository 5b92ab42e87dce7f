"""Realistic event streams for a rule pack: for tests, benchmarks and the demo.

Cases arrive through working hours at a steady rate; each walks its item's
steps, most within their limits, some late, some suspended waiting for the
applicant (补正), some charged fees above the standard, some doing steps out of
order, a few abandoned half-way.  Lines then get the noise real feeds have:
duplicates, malformed JSON, missing fields, timestamps without offsets, events
that arrive late.

Generation streams: cases are produced in submission order and their events
released from a heap as time passes, so memory follows open cases and a
million-event file costs no more than a thousand-event one.  The same seed
always writes the same bytes.
"""

from __future__ import annotations

import heapq
import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from rules.calendar import ALWAYS, BusinessCalendar, Calendar
from rules.pack import Item, RulePack

_AGENCIES = {
    "land-use-planning-permit": ("city/planning/east", "city/planning/west"),
    "construction-permit": ("city/housing/permits", "city/housing/permits/district-2"),
    "business-licence": ("city/market/registration", "city/market/registration/hall-2"),
    "food-business-licence": ("city/market/food",),
    "real-estate-registration": ("city/registry/north", "city/registry/south"),
    "road-excavation-emergency": ("city/transport/roads",),
}


@dataclass(frozen=True)
class Scenario:
    cases: int = 1000
    start: int = 1772413200  # 2026-03-02T09:00:00+08:00
    per_hour: float = 40.0  # submissions per working hour
    seed: int = 1
    noise: float = 0.01  # share of lines that are duplicated, malformed or delayed
    late: float = 0.15  # share of steps that overrun their limit
    suspend: float = 0.12
    disorder: float = 0.04
    fee: float = 0.15
    abandon: float = 0.05
    case_prefix: str = "C"
    rework: float = 0.0  # share of completed steps sent back and done again (退回, contract §7.4)
    extend: float = 0.0  # share of late steps that get an extension before their limit (延期, §7.6)


class _Clock:
    """Working-time arithmetic on the item's calendar (or natural time)."""

    def __init__(self, cal: Calendar) -> None:
        self.cal = cal

    def plus(self, t: int, seconds: int) -> int:
        return self.cal.after(t, max(0, seconds))


_WORKDAY = 7 * 3600  # a day limit's nominal length, for drawing durations


def _nominal(limit: int | None, days: int | None) -> int:
    """A limit in seconds for drawing durations; a day limit counts a working day as seven hours."""
    return limit if limit is not None else (days or 1) * _WORKDAY


def _zone(item: Item) -> ZoneInfo | None:
    cal = item.calendar
    return cal.zone if isinstance(cal, BusinessCalendar) else None


def _stamp(t: int, zone: ZoneInfo | None, rnd: random.Random) -> str:
    r = rnd.random()
    if zone is None or r < 0.1:
        return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    local = datetime.fromtimestamp(t, UTC).astimezone(zone)
    off = local.utcoffset() or timedelta(0)
    text = local.replace(tzinfo=timezone(off)).isoformat()
    if r < 0.2:  # some systems send microseconds; the contract truncates them
        text = text[:19] + f".{rnd.randrange(1_000_000):06d}" + text[19:]
    return text


def _case_events(
    item: Item, case_id: str, t0: int, sc: Scenario, rnd: random.Random, kinds: tuple[str, ...] = ()
) -> list[tuple[int, dict[str, Any]]]:
    clock = _Clock(item.calendar)
    agency = rnd.choice(_AGENCIES.get(item.code, (f"city/dept-{zlib.crc32(item.code.encode()) % 7}/office",)))
    leaf = agency.rsplit("/", 1)[-1]
    handlers = [f"{leaf}-{i}" for i in range(1, 6)]
    out: list[tuple[int, dict[str, Any]]] = []

    def ev(t: int, typ: str, **fields: Any) -> None:
        out.append((t, {"case_id": case_id, "type": typ, **fields}))

    ev(t0, "case_submitted", item_code=item.code, agency_id=agency, handler_id=rnd.choice(handlers))
    t = t0
    suspended_once = False
    abandon_at = rnd.randrange(len(item.steps) + 1) if rnd.random() < sc.abandon else None
    charges = item.fee_limit is not None and item.fee_limit > 0
    fee_step = rnd.randrange(len(item.steps)) if rnd.random() < (sc.fee if charges else sc.fee / 5) else -1
    early: dict[str, tuple[int, str]] = {}
    for i, step in enumerate(item.steps):
        if abandon_at is not None and i == abandon_at:
            return out
        if step.optional and rnd.random() < 0.5:
            continue
        if i == fee_step:
            # Items with a standard charge it, now and then too much; items
            # without one are sometimes charged anyway (乱收费).
            standard = float(item.fee_limit or 0)
            if standard and rnd.random() < 0.8:
                amount: float = standard
            else:
                amount = rnd.choice((20, 50, 120.5, 200))
            ev(clock.plus(t, rnd.randrange(60, 600)), "fee_charged", fee_yuan=amount, handler_id=rnd.choice(handlers))
        if step.name in early:
            start, handler = early.pop(step.name)
            start = max(start, t)
        else:
            start = clock.plus(t, rnd.randrange(0, max(1, _nominal(step.limit, step.limit_days) // 10)))
            handler = rnd.choice(handlers)
            ev(start, "step_started", step=step.name, handler_id=handler)
        if rnd.random() < sc.disorder and i + 1 < len(item.steps):
            # Start the next step before this one is completed (程序违规).
            nxt = item.steps[i + 1]
            early[nxt.name] = (start, handler)
            ev(start, "step_started", step=nxt.name, handler_id=handler)
        nominal = _nominal(step.limit, step.limit_days)
        late = rnd.random() < sc.late
        factor = rnd.uniform(1.02, 1.8) if late else rnd.uniform(0.1, 0.95)
        duration = max(1, int(nominal * factor))
        t = start
        if late and sc.extend and item.max_extensions and rnd.random() < sc.extend:
            # Approved before the limit runs out, by the official's superior (行政许可法 §42).
            extension = {"extend_days": 1 + rnd.randrange(3)} if step.limit_days else {"extend_hours": nominal / 3600}
            ev(clock.plus(t, nominal // 2), "limit_extended", step=step.name, handler_id=rnd.choice(handlers),
               reason="情况复杂，经负责人批准延长", **extension)  # fmt: skip
        if not suspended_once and rnd.random() < sc.suspend:
            suspended_once = True
            first = rnd.randrange(0, duration)
            at = clock.plus(t, first)
            allowance = item.max_suspension or 7 * 3600
            wait = int(allowance * rnd.uniform(0.1, 1.4))
            kind = {"kind": rnd.choice(kinds)} if kinds else {}  # typed suspensions (§7.5) when the pack has them
            ev(at, "case_suspended", reason="材料补正 (documents requested from the applicant)", handler_id=handler,
               **kind)  # fmt: skip
            resumed = clock.plus(at, wait)
            ev(resumed, "case_resumed", handler_id=handler)
            t, duration = resumed, duration - first
        end = clock.plus(t, duration)
        ev(end, "step_completed", step=step.name, handler_id=handler)
        t = end
        if sc.rework and rnd.random() < sc.rework:
            # Sent back (退回): the step is done again, a new cycle with its full limit.
            again = clock.plus(t, rnd.randrange(600, 3600))
            redo = max(1, int(nominal * rnd.uniform(0.2, 0.9)))
            ev(again, "step_started", step=step.name, handler_id=handler, reason="退回补正后重新审查")
            t = clock.plus(again, redo)
            ev(t, "step_completed", step=step.name, handler_id=handler)
    ev(clock.plus(t, rnd.randrange(0, 1800)), "case_completed", handler_id=rnd.choice(handlers))
    return out


_MALFORMED = (
    lambda e: orjson.dumps(e)[:-7],  # truncated mid-object
    lambda e: orjson.dumps({k: v for k, v in e.items() if k != "case_id"}),
    lambda e: orjson.dumps({**e, "occurred_at": e["occurred_at"][:19]}),  # no offset
    lambda e: orjson.dumps({**e, "type": "case_teleported"}),
    lambda e: orjson.dumps({**e, "type": "fee_charged", "fee_yuan": "12"}),
    lambda e: orjson.dumps({**e, "type": "fee_charged", "fee_yuan": -5}),
    lambda e: orjson.dumps([e["case_id"], e["type"]]),
    lambda e: orjson.dumps({**e, "type": "case_resumed"}),  # resumes a case that is not suspended
    lambda e: orjson.dumps({**e, "case_id": "NO-SUCH-CASE"}),
)


def simulate_lines(pack: RulePack, sc: Scenario) -> Iterator[bytes]:
    """Yield the lines of an event file, in roughly arrival order."""
    rnd = random.Random(sc.seed)
    items = list(pack.items.values())
    arrivals = _Clock(next(iter(pack.calendars.values()), ALWAYS))
    zones = {it.code: _zone(it) for it in items}
    mean_gap = 3600 / sc.per_hour
    heap: list[tuple[int, int, dict[str, Any], str]] = []
    tick = 0
    submit = sc.start
    delayed: list[tuple[int, bytes]] = []  # (release after line n, line)
    emitted = 0
    serial = 0

    def emit(t: int, obj: dict[str, Any], code: str) -> Iterator[bytes]:
        nonlocal emitted, serial
        serial += 1
        event = {
            "event_id": f"e{serial:09d}",
            "case_id": obj["case_id"],
            "type": obj["type"],
            "occurred_at": _stamp(t, zones[code], rnd),
        }
        event.update((k, v) for k, v in obj.items() if k not in event)
        line = orjson.dumps(event)
        r = rnd.random()
        if r < sc.noise:
            kind = rnd.random()
            if kind < 0.4:  # duplicate, sent again a little later
                delayed.append((emitted + rnd.randrange(1, 50), line))
            elif kind < 0.7:  # late arrival: the original comes later
                delayed.append((emitted + rnd.randrange(1, 200), line))
                return
            elif obj["type"] != "case_submitted":  # a lost submission would void the whole case
                yield rnd.choice(_MALFORMED)(event)
                emitted += 1
                return
        yield line
        emitted += 1
        if delayed:
            due = [d for d in delayed if d[0] <= emitted]
            if due:
                delayed[:] = [d for d in delayed if d[0] > emitted]
                for _, dl in due:
                    yield dl
                    emitted += 1

    kinds = tuple(sorted(pack.suspension_kinds))
    for n in range(sc.cases):
        item = items[rnd.randrange(len(items))]
        item = pack.item_at(item.code, submit) or item  # the version in force at submission (§7.7)
        case_id = f"{sc.case_prefix}{n + 1:07d}"
        for t, obj in _case_events(item, case_id, submit, sc, rnd, kinds):
            tick += 1
            heapq.heappush(heap, (t, tick, obj, item.code))
        submit = arrivals.plus(submit, max(1, int(rnd.expovariate(1 / mean_gap))))
        while heap and heap[0][0] < submit:
            t, _, obj, code = heapq.heappop(heap)
            yield from emit(t, obj, code)
    while heap:
        t, _, obj, code = heapq.heappop(heap)
        yield from emit(t, obj, code)
    for _, dl in delayed:
        yield dl
