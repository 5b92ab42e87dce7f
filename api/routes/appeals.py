"""申诉 and 复核: an agency appeals a record within the pack's working days; a supervisor upholds the appeal (the
worker raises an ``adjustment`` that withdraws the record's points everywhere) or rejects it."""

import time
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.acting import (
    ERRORS,
    ActionAccepted,
    AgencyKey,
    AppealLinks,
    Note,
    Supervisor,
    new_action,
    publish,
    record_for,
    work_for,
)
from api.deps import Reader, Svc, checked_cursor, scoped
from api.models import PageModel
from rules.errors import BadInput, Conflict
from rules.records import PENALTY_KINDS
from rules.timeutil import format_instant, parse_instant
from rules.workflow import appeal_deadline
from store.base import WorkQuery

router = APIRouter(tags=["申诉 appeals"])


class AppealIn(AppealLinks):
    record_id: str
    reason: str


class DecisionIn(Note):
    outcome: Literal["upheld", "rejected"]


@router.post("/v1/appeals", status_code=202, response_model=ActionAccepted, responses=ERRORS)
async def appeal(body: AppealIn, who: AgencyKey, s: Svc) -> ActionAccepted:
    """申诉: the agency of a record with penalty points asks for it to be cancelled, with reason and evidence."""
    record = await record_for(s, who, body.record_id)
    if record["kind"] not in PENALTY_KINDS or not record.get("points"):
        raise Conflict(f"记录 {body.record_id}（{record['kind']}）没有扣分，无需申诉 (no penalty points to appeal)")
    if record.get("revoked_by"):
        raise Conflict(f"记录 {body.record_id} 已被 {record['revoked_by']} 撤销 (withdrawn already)")
    if not body.reason.strip() or len(body.reason) > 2000:
        raise BadInput("请写明申诉理由（1 至 2000 字）(`reason` is required, at most 2000 characters)")
    taken = await s.store.search_work(WorkQuery("appeal", record_id=body.record_id, limit=1))
    if taken.items:
        raise Conflict(f"记录 {body.record_id} 已有申诉 {taken.items[0]['id']} (appealed already)")
    if s.pack is not None:
        deadline = appeal_deadline(s.pack, record["item_code"], parse_instant(record["at"]))
        if time.time() > deadline:
            raise Conflict(
                f"申诉期限已于 {format_instant(deadline)} 截止（记录后 {s.pack.appeal_days} 个工作日）"
                " (the appeal window has closed)"
            )
    action = new_action(
        who, "appeal", record["case_id"], agency_id=record["agency_id"], item_code=record["item_code"], record=record,
        note=body.reason, evidence=body.evidence,
    )  # fmt: skip
    return await publish(s, action)


@router.post("/v1/appeals/{appeal_id}/decision", status_code=202, response_model=ActionAccepted, responses=ERRORS)
async def decide(appeal_id: str, body: DecisionIn, who: Supervisor, s: Svc) -> ActionAccepted:
    """复核: uphold (the record's points are cancelled) or reject, with a note."""
    doc = await work_for(s, who, appeal_id, "appeal")
    if doc["status"] != "pending":
        raise Conflict(f"申诉 {appeal_id} 已复核（{doc['status']}）(decided already)")
    action = new_action(who, "decide", doc["case_id"], target=appeal_id, outcome=body.outcome, note=body.note)
    return await publish(s, action)


@router.get("/v1/appeals", response_model=PageModel)
async def appeals(
    who: Reader,
    s: Svc,
    status: Literal["pending", "upheld", "rejected"] | None = None,
    agency: str | None = None,
    case_id: str | None = None,
    record_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> PageModel:
    """Appeals, newest first."""
    q = WorkQuery("appeal", status, scoped(who, agency), case_id, record_id, None, limit, checked_cursor(cursor))
    page = await s.store.search_work(q)
    return PageModel(items=page.items, next_cursor=page.next_cursor)


@router.get("/v1/appeals/{appeal_id}", responses=ERRORS)
async def one(appeal_id: str, who: Reader, s: Svc) -> dict[str, object]:
    return await work_for(s, who, appeal_id, "appeal")
