"""What supervisors and agencies read of the work on a case: one document per 督办 and per appeal.

Derived from the case's state (``rules.workflow``) like the case document, by the
sink, and replaced whole on every change; ``due`` and ``overdue`` let the store
answer "which orders are past their due time" with one range query.
"""

from __future__ import annotations

from typing import Any

from rules.state import CaseState
from rules.timeutil import format_instant
from rules.workflow import OPEN, Appeal, Order, Work

SUPERVISION, APPEAL = "supervision", "appeal"
STEP_ALARMS = ("reminder", "warning", "overdue")  # alarms on a step's clock


def _iso(t: int | None) -> str | None:
    return None if t is None else format_instant(t)


def _order(case_id: str, o: Order) -> dict[str, Any]:
    return {
        "id": o.id,
        "type": SUPERVISION,
        "case_id": case_id,
        "agency_id": o.agency_id,
        "item_code": o.item_code,
        "record_id": o.record_id,
        "step": o.step,
        "handler_id": o.handler,
        "status": o.status,
        "round": o.round,
        "at": format_instant(o.opened_at),
        "by": o.opened_by,
        "note": o.note,
        "due": format_instant(o.due),
        "awaiting_reply": o.status == OPEN,
        "escalated": o.escalated > 0,
        "history": [{**h, "at": format_instant(h["at"]), **({"due": _iso(h["due"])} if "due" in h else {})}
                    for h in o.history],
    }  # fmt: skip


def _appeal(case_id: str, a: Appeal) -> dict[str, Any]:
    return {
        "id": a.id,
        "type": APPEAL,
        "case_id": case_id,
        "agency_id": a.agency_id,
        "item_code": a.item_code,
        "record_id": a.record_id,
        "record_kind": a.record_kind,
        "record_points": a.record_points,
        "record_at": a.record_at,
        "step": a.step,
        "handler_id": a.handler,
        "status": a.status,
        "at": format_instant(a.filed_at),
        "by": a.filed_by,
        "reason": a.reason,
        "evidence": a.evidence,
        "decided_at": _iso(a.decided_at),
        "decided_by": a.decided_by,
        "decision_note": a.decision_note,
    }


def work_documents(st: CaseState) -> list[dict[str, Any]]:
    """The case's orders and appeals as documents, in the order they were opened."""
    if st.work is None:
        return []
    docs = [_order(st.case_id, o) for o in st.work.orders.values()]
    docs += [_appeal(st.case_id, a) for a in st.work.appeals.values()]
    return docs


def mark_handled(doc: dict[str, Any], work: Work) -> None:
    """Which of the case's alarms were marked handled, by whom and when (``rules.workflow``): under ``acks`` by
    record, and on the step (or the case) an acknowledged alarm was raised for, so "overdue and not yet handled"
    is one filter on the overdue list."""
    doc["acks"] = {rid: {"by": by, "at": format_instant(at)} for rid, (by, at, _, _) in work.acks.items()}
    steps = {s["step"]: s for s in doc["steps"]}
    for by, at, step, kind in work.acks.values():
        target = doc if kind == "case_overdue" else steps.get(step) if kind in STEP_ALARMS else None
        if target is not None:
            target["handled_by"], target["handled_at"] = by, format_instant(at)
