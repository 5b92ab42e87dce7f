"""督办: supervisors order an agency to act on a record or a case by a due time; the agency replies (回告); the
supervisor accepts the reply or returns it with a new due time; an order unanswered past its due time escalates (a
red card raised by the worker, ``rules.workflow``).  Also: marking an alarm handled (``ack``)."""

import time
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.acting import (
    ERRORS,
    ActionAccepted,
    AgencyKey,
    Due,
    Note,
    Supervisor,
    new_action,
    publish,
    record_for,
    work_for,
)
from api.deps import Reader, Svc, case_in_scope, checked_cursor, scoped
from api.models import PageModel
from rules.agency import in_subtree
from rules.errors import BadInput, Conflict, OutOfScope
from rules.timeutil import format_instant
from rules.workflow import due_after
from store.base import WorkQuery

router = APIRouter(tags=["督办 supervision orders"])


class SupervisionIn(Due, Note):
    record_id: str | None = None
    case_id: str | None = None
    agency_id: str | None = None  # default: the record's (or the case's) agency


class ReviewIn(Due, Note):
    outcome: Literal["accept", "return"]


class ReplyIn(Note):
    pass


@router.post("/v1/supervisions", status_code=202, response_model=ActionAccepted, responses=ERRORS)
async def open_order(body: SupervisionIn, who: Supervisor, s: Svc) -> ActionAccepted:
    """Order an agency to act on a record (an alarm) or a case by a due time in working hours or days."""
    body.check_due()
    if (body.record_id is None) == (body.case_id is None):
        raise BadInput("请给出 record_id（针对一条记录）或 case_id（针对一个办件）其中之一 (exactly one)")
    record = None
    if body.record_id is not None:
        record = await record_for(s, who, body.record_id)
        case_id, agency, item = record["case_id"], record["agency_id"], record["item_code"]
    else:
        case = await case_in_scope(s, who, body.case_id or "")
        case_id, agency, item = case["case_id"], case["agency_id"], case["item_code"]
    target = body.agency_id or agency
    if not in_subtree(target, who.scope):
        raise OutOfScope(f"督办对象 {target!r} 不在此密钥的范围 {who.scope!r} 内 (agency outside your scope)")
    action = new_action(
        who, "supervise", case_id, agency_id=target, item_code=item, record=record, due_hours=body.due_hours,
        due_days=body.due_days, note=body.note,
    )  # fmt: skip
    due = None if s.pack is None else format_instant(due_after(s.pack, item, action.at, body.due_hours, body.due_days))
    return await publish(s, action, due)


@router.post("/v1/supervisions/{order_id}/reply", status_code=202, response_model=ActionAccepted, responses=ERRORS)
async def reply(order_id: str, body: ReplyIn, who: AgencyKey, s: Svc) -> ActionAccepted:
    """回告: the agency the order is addressed to explains what it did."""
    order = await work_for(s, who, order_id, "supervision")
    if order["status"] != "open":
        raise Conflict(f"督办 {order_id} 当前状态为 {order['status']}，不在等待回告 (not awaiting a reply)")
    if not body.note.strip():
        raise BadInput("回告须写明办理情况 (`note` must explain what was done)")
    action = new_action(who, "reply", order["case_id"], target=order_id, note=body.note)
    return await publish(s, action)


@router.post("/v1/supervisions/{order_id}/review", status_code=202, response_model=ActionAccepted, responses=ERRORS)
async def review(order_id: str, body: ReviewIn, who: Supervisor, s: Svc) -> ActionAccepted:
    """Accept the reply (the order is closed) or return it with a new due time (a new round)."""
    order = await work_for(s, who, order_id, "supervision")
    if order["status"] != "replied":
        raise Conflict(f"督办 {order_id} 当前状态为 {order['status']}，尚无待审核的回告 (no reply to review)")
    due = None
    if body.outcome == "return":
        body.check_due()
        if s.pack is not None:
            due = format_instant(due_after(s.pack, order["item_code"], int(time.time()), body.due_hours, body.due_days))
    action = new_action(
        who, "review", order["case_id"], target=order_id, outcome=body.outcome, due_hours=body.due_hours,
        due_days=body.due_days, note=body.note,
    )  # fmt: skip
    return await publish(s, action, due)


@router.get("/v1/supervisions", response_model=PageModel)
async def orders(
    who: Reader,
    s: Svc,
    status: Literal["open", "replied", "closed"] | None = None,
    agency: str | None = None,
    case_id: str | None = None,
    overdue: Annotated[bool, Query(description="only orders awaiting a reply past their due time")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> PageModel:
    """督办 orders, newest first."""
    q = WorkQuery("supervision", status, scoped(who, agency), case_id, None, int(time.time()) if overdue else None,
                  limit, checked_cursor(cursor))  # fmt: skip
    page = await s.store.search_work(q)
    return PageModel(items=page.items, next_cursor=page.next_cursor)


@router.get("/v1/supervisions/{order_id}", responses=ERRORS)
async def order(order_id: str, who: Reader, s: Svc) -> dict[str, object]:
    """One order with its history: opened, replies, reviews, escalations, who and when."""
    return await work_for(s, who, order_id, "supervision")


@router.post("/v1/records/{record_id}/ack", status_code=202, response_model=ActionAccepted, responses=ERRORS)
async def ack(record_id: str, body: Note, who: Supervisor, s: Svc) -> ActionAccepted:
    """Mark an alarm handled (已处理), with who and when; shown on the case timeline."""
    record = await record_for(s, who, record_id)
    case = await s.store.get_case(record["case_id"])
    if case is not None and record_id in case.get("acks", {}):
        done = case["acks"][record_id]
        raise Conflict(f"记录 {record_id} 已由 {done['by']} 于 {done['at']} 标记为已处理 (handled already)")
    return await publish(s, new_action(who, "ack", record["case_id"], record=record, note=body.note))
