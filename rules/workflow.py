"""The supervisors' work on a case: 督办 orders and their escalation, appeals and their decisions, acknowledgements.

Held in the case's state, so the worker that judges a case's events judges its
actions too, in one order, with the same durability: an order's due instant is a
timer like a step's deadline, fired on the wall clock with the same grace, after
a crash at the same instant, never twice (an order's round is escalated once).

Each accepted action raises a record of its own (points 0): the record trail
chains it as evidence, the case timeline shows who did what and when.  Two raise
points or take them away: ``escalation`` (an order unanswered past its due time:
a red card, the pack's ``escalation`` points) and ``adjustment`` (an appeal upheld:
it withdraws the appealed record exactly as a revocation does, so every count
nets it the same way).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from rules.actions import ACK, APPEAL, DECIDE, REPLY, REVIEW, SUPERVISE, Action
from rules.calendar import BusinessCalendar
from rules.days import advance_days, close_of_business, local_day
from rules.errors import BadInput
from rules.events import Rejection
from rules.pack import RulePack
from rules.records import ACTION_RECORD_KINDS, ADJUSTMENT, ESCALATION, PENALTY_KINDS, REVOCATION, Record, record_id
from rules.timeutil import format_instant, parse_instant

OPEN, REPLIED, CLOSED = "open", "replied", "closed"  # an order: awaiting the reply, the review, done
PENDING, UPHELD, REJECTED = "pending", "upheld", "rejected"  # an appeal


@dataclass(slots=True)
class Order:
    """A 督办: addressed to an agency, due at an instant; ``round`` grows each time a reply is returned."""

    id: str
    agency_id: str
    item_code: str
    record_id: str | None
    step: str | None
    handler: str | None
    opened_at: int
    opened_by: str
    due: int
    note: str = ""
    round: int = 1
    status: str = OPEN
    escalated: int = 0  # the last round escalated
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class Appeal:
    """A 申诉 against one record, decided once."""

    id: str
    record_id: str
    record_kind: str
    record_points: float
    record_at: str
    agency_id: str
    item_code: str
    step: str | None
    handler: str | None
    filed_at: int
    filed_by: str
    reason: str
    evidence: list[str]
    status: str = PENDING
    decided_at: int | None = None
    decided_by: str | None = None
    decision_note: str = ""


@dataclass(slots=True)
class Work:
    """A case's orders, appeals and acknowledgements, and the action ids applied (a resent action is skipped)."""

    orders: dict[str, Order] = field(default_factory=dict)
    appeals: dict[str, Appeal] = field(default_factory=dict)
    acks: dict[str, tuple[str, int, str, str]] = field(default_factory=dict)  # record id -> (by, at, step, kind)
    done: set[str] = field(default_factory=set)

    @property
    def due(self) -> int | None:
        """The earliest instant an open order will escalate at."""
        dues = [o.due for o in self.orders.values() if o.status == OPEN and o.escalated < o.round]
        return min(dues) if dues else None

    @property
    def open(self) -> bool:
        """Something is still awaited: the case's state must be kept until it is done."""
        return any(o.status != CLOSED for o in self.orders.values()) or any(
            a.status == PENDING for a in self.appeals.values()
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "orders": [asdict(o) for o in self.orders.values()],
            "appeals": [asdict(a) for a in self.appeals.values()],
            "acks": [[r, *ack] for r, ack in self.acks.items()],
            "done": sorted(self.done),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Work:
        return cls(
            {o["id"]: Order(**o) for o in d["orders"]},
            {a["id"]: Appeal(**a) for a in d["appeals"]},
            {r: (by, at, step, kind) for r, by, at, step, kind in d["acks"]},
            set(d["done"]),
        )


def _escalation_id(case_id: str, o: Order) -> str:
    """One escalation per order and round."""
    return record_id(case_id, ESCALATION, o.step, o.due, f"{o.id}#{o.round}")


def due_after(pack: RulePack, item_code: str | None, start: int, hours: float | None, days: int | None) -> int:
    """A due time in working hours or working days on the item's calendar (natural time without one)."""
    item = None if item_code is None else pack.item_at(item_code, start)
    cal = None if item is None else item.calendar
    if days is not None:
        if isinstance(cal, BusinessCalendar):
            return close_of_business(cal, advance_days(cal, local_day(cal, start), days, natural=False))
        return start + days * 86400
    seconds = round((hours or 24) * 3600)
    return start + seconds if cal is None else cal.after(start, seconds)


def appeal_deadline(pack: RulePack, item_code: str, record_at: int) -> int:
    """The close of business of the pack's ``appeal_days``-th working day after the record."""
    return due_after(pack, item_code, record_at, None, pack.appeal_days)


class Workflow:
    """Applies actions and fires escalations under one rule pack; holds no state of its own."""

    def __init__(self, pack: RulePack) -> None:
        self.pack = pack

    def apply(self, work: Work, case_id: str, a: Action) -> list[Record | Rejection]:
        """Apply one action; the caller has fired ``work``'s escalations before ``a.at`` already."""
        if a.action_id in work.done:
            return []
        problem = self._check(work, a)
        if problem is not None:
            return [Rejection(a.seq, a.action_id, case_id, "not_allowed", problem, a.raw)]
        work.done.add(a.action_id)
        return [self._act(work, case_id, a), *self._consequences(work, case_id, a)]

    def fire(self, work: Work, case_id: str, before: int) -> list[Record]:
        """Escalate every open order whose due instant lies strictly before ``before``, once per round."""
        out = []
        for o in sorted(work.orders.values(), key=lambda o: (o.due, o.id)):
            if o.status == OPEN and o.escalated < o.round and o.due < before:
                o.escalated = o.round
                o.history.append({"what": ESCALATION, "at": o.due, "by": None, "round": o.round})
                detail = {"order_id": o.id, "round": o.round, "record": o.record_id, "due": format_instant(o.due)}
                rid = _escalation_id(case_id, o)
                points = self.pack.points[ESCALATION]
                rec = Record(rid, ESCALATION, case_id, o.step, o.due, o.item_code, o.agency_id, o.handler, points)
                rec.detail = detail
                out.append(rec)
        return out

    # -- judging one action ---------------------------------------------------------------------------
    def _check(self, work: Work, a: Action) -> str | None:
        if a.type == SUPERVISE:
            if not a.agency_id or not a.item_code:
                return "a 督办 names the agency it is addressed to and the case's item"
            return None
        if a.type in (REPLY, REVIEW):
            o = work.orders.get(a.target or "")
            if o is None:
                return f"no 督办 {a.target!r} on case {a.case_id!r}"
            if a.type == REPLY and o.status != OPEN:
                return f"督办 {o.id} is {o.status}, not awaiting a reply"
            if a.type == REVIEW:
                if o.status != REPLIED:
                    return f"督办 {o.id} is {o.status}; only a replied order is reviewed"
                if a.outcome not in ("accept", "return"):
                    return f"`outcome` {a.outcome!r}: use accept or return"
            return None
        if a.type == APPEAL:
            r = a.record or {}
            if r.get("kind") not in PENALTY_KINDS or not r.get("points"):
                return f"record {r.get('id')!r} carries no penalty points to appeal"
            if any(x.record_id == r["id"] for x in work.appeals.values()):
                return f"record {r['id']} has been appealed already"
            try:
                at = parse_instant(r.get("at"))
            except BadInput:
                return f"record {r['id']} carries no valid `at` ({r.get('at')!r})"
            deadline = appeal_deadline(self.pack, str(r.get("item_code")), at)
            if a.at > deadline:
                return f"the appeal window closed at {format_instant(deadline)} ({self.pack.appeal_days} working days)"
            return None
        if a.type == DECIDE:
            p = work.appeals.get(a.target or "")
            if p is None:
                return f"no appeal {a.target!r} on case {a.case_id!r}"
            if p.status != PENDING:
                return f"appeal {p.id} was decided already ({p.status})"
            if a.outcome not in (UPHELD, REJECTED):
                return f"`outcome` {a.outcome!r}: use upheld or rejected"
            return None
        assert a.type == ACK
        rid = (a.record or {}).get("id")
        if rid in work.acks:
            by, at = work.acks[rid][:2]
            return f"record {rid} was handled by {by} at {format_instant(at)} already"
        return None

    def _revoke_escalation(self, o: Order, case_id: str, a: Action) -> list[Record | Rejection]:
        fired = [h for h in o.history if h["what"] == ESCALATION and h.get("round") == o.round]
        if o.escalated < o.round or a.at > o.due or not fired:
            return []
        o.escalated = o.round - 1
        old = _escalation_id(case_id, o)
        o.history.remove(fired[-1])
        rec = Record(record_id(case_id, REVOCATION, o.step, a.at, old), REVOCATION, case_id, o.step, a.at,
                     o.item_code, o.agency_id, None, 0)  # fmt: skip
        rec.detail = {"revokes": old, "revoked_kind": ESCALATION, "revoked_at": format_instant(o.due),
                      "caused_by": a.action_id}  # fmt: skip
        return [rec]

    def _act(self, work: Work, case_id: str, a: Action) -> Record:
        """The record of the action itself; the order or appeal it opens or moves is updated here too."""
        r = a.record or {}
        detail: dict[str, Any] = {"by": a.by, "role": a.role, "action_id": a.action_id}
        if a.note:
            detail["note"] = a.note
        agency, item, step, handler = a.agency_id or "", a.item_code or "", r.get("step"), r.get("handler_id")
        if a.type == SUPERVISE:
            due = due_after(self.pack, a.item_code, a.at, a.due_hours, a.due_days)
            o = Order(a.action_id, agency, item, r.get("id"), step, handler, a.at, a.by, due, a.note)
            o.history.append({"what": SUPERVISE, "at": a.at, "by": a.by, "note": a.note})
            work.orders[o.id] = o
            detail |= {"order_id": o.id, "due": format_instant(due), "record": o.record_id}
        elif a.type in (REPLY, REVIEW):
            o = work.orders[a.target or ""]
            agency, item, step, handler = o.agency_id, o.item_code, o.step, o.handler
            entry: dict[str, Any] = {"what": a.type, "at": a.at, "by": a.by, "note": a.note}
            if a.type == REPLY:
                o.status = REPLIED
            elif a.outcome == "accept":
                o.status = CLOSED
            else:
                o.status, o.round = OPEN, o.round + 1
                o.due = due_after(self.pack, o.item_code, a.at, a.due_hours, a.due_days)
                entry["due"] = o.due
            entry["outcome"] = a.outcome
            o.history.append(entry)
            detail |= {"order_id": o.id, "status": o.status, "round": o.round}
            if a.outcome == "return":
                detail["due"] = format_instant(o.due)
        elif a.type == APPEAL:
            p = Appeal(
                a.action_id, r["id"], r["kind"], float(r["points"]), r["at"], agency or r.get("agency_id", ""),
                item or r.get("item_code", ""), step, handler, a.at, a.by, a.note, a.evidence,
            )  # fmt: skip
            agency, item = p.agency_id, p.item_code
            work.appeals[p.id] = p
            detail |= {"appeal_id": p.id, "record": p.record_id, "evidence": a.evidence}
        elif a.type == DECIDE:
            p = work.appeals[a.target or ""]
            p.status, p.decided_at, p.decided_by, p.decision_note = a.outcome or "", a.at, a.by, a.note
            agency, item, step, handler = p.agency_id, p.item_code, p.step, p.handler
            detail |= {"appeal_id": p.id, "record": p.record_id, "outcome": p.status}
        else:
            work.acks[r["id"]] = (a.by, a.at, r.get("step") or "", str(r.get("kind", "")))
            agency, item = r.get("agency_id", agency), r.get("item_code", item)
            detail |= {"record": r["id"]}
        kind = ACTION_RECORD_KINDS[a.type]
        rid = record_id(case_id, kind, step, a.at, a.action_id)
        rec = Record(rid, kind, case_id, step, a.at, item, agency, handler, 0)
        rec.detail = detail
        return rec

    def _consequences(self, work: Work, case_id: str, a: Action) -> list[Record | Rejection]:
        """An appeal upheld withdraws the appealed record's points: an ``adjustment`` naming it.  A reply made
        before its due time but judged after the escalation fired (the worker was behind by more than the grace)
        disproves that escalation: a ``revocation`` names it, as a late event's does."""
        if a.type == REPLY:
            return self._revoke_escalation(work.orders[a.target or ""], case_id, a)
        if a.type != DECIDE or a.outcome != UPHELD:
            return []
        p = work.appeals[a.target or ""]
        detail = {"revokes": p.record_id, "revoked_kind": p.record_kind, "revoked_at": p.record_at, "appeal_id": p.id,
                  "by": a.by, "cancelled_points": p.record_points}  # fmt: skip
        rid = record_id(case_id, ADJUSTMENT, p.step, a.at, p.id)
        rec = Record(rid, ADJUSTMENT, case_id, p.step, a.at, p.item_code, p.agency_id, p.handler, 0)
        rec.detail = detail
        return [rec]
