"""The penalty ledger: every points-bearing record of an agency subtree or an official over a period, each with its
standing and the running total — what a discipline committee reads when it asks how a unit's score came about."""

import dataclasses
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.deps import Reader, Svc, instant, scoped
from api.exports import Column, collected, named, tabular
from rules.errors import BadInput
from rules.records import ADJUSTMENT, ESCALATION, PENALTY_KINDS
from store.base import RecordQuery

router = APIRouter(tags=["ledger and reports"])
MAX_ROWS = 100_000
STANDING_TITLES = {"stands": "有效", "escalated": "有效（督办逾期已升级）", "revoked": "已撤销（事实更正）",
                   "cancelled": "已核销（申诉成立）"}  # fmt: skip
LEDGER_COLUMNS: list[Column] = [
    ("at", "时间", "time"), ("kind", "类型", "kind"), ("case_id", "办件编号", "text"), ("step", "环节", "text"),
    ("agency_name", "部门", "text"), ("handler_name", "经办人", "text"), ("points", "扣分", "number"),
    ("standing_title", "状态", "text"), ("counted_points", "计入扣分", "number"), ("running_total", "累计", "number"),
    ("withdrawn_by", "撤销或核销记录", "text"), ("id", "记录编号", "text"), ("agency_id", "部门编码", "text"),
    ("handler_id", "经办人编码", "text"),
]  # fmt: skip


@router.get("/v1/ledger", response_model=None)
async def ledger(
    who: Reader,
    s: Svc,
    since: Annotated[str, Query(description="RFC 3339, inclusive")],
    until: Annotated[str, Query(description="RFC 3339, exclusive")],
    agency: str | None = None,
    handler_id: str | None = None,
    format: Literal["json", "csv", "xlsx"] = "json",
) -> dict[str, Any] | Response:
    """Oldest first, each record's standing (stands, escalated, revoked, cancelled on appeal), the running total."""
    offset = int(s.utc_offset_hours * 3600)
    start, end = instant(since, "since", offset), instant(until, "until", offset)
    assert start is not None and end is not None
    if end <= start:
        raise BadInput("`until` 须晚于 `since` (until must come after since)")
    q = RecordQuery(PENALTY_KINDS, scoped(who, agency), None, handler_id, None, start, end, 1000)
    rows = await collected(s.store.export_records(q), MAX_ROWS)
    later = dataclasses.replace(q, kinds=(ADJUSTMENT, ESCALATION), handler_id=None, until=None)
    cancelled: set[str] = set()
    escalated: set[str] = set()
    for r in await collected(s.store.export_records(later), MAX_ROWS):
        (cancelled if r["kind"] == ADJUSTMENT else escalated).add(str(r.get("revokes") or r.get("record")))
    total = 0.0
    items = []
    for r in sorted(rows, key=lambda r: (r["at"], r["id"])):
        withdrawn = r.get("revoked_by")
        if withdrawn:
            standing = "cancelled" if r["id"] in cancelled else "revoked"
        else:
            standing = "escalated" if r["id"] in escalated else "stands"
        counted = 0 if withdrawn else r["points"]
        total += counted
        items.append({
            "id": r["id"], "kind": r["kind"], "case_id": r["case_id"], "step": r.get("step"), "at": r["at"],
            "agency_id": r["agency_id"], "handler_id": r.get("handler_id"), "points": r["points"],
            "standing": standing, "standing_title": STANDING_TITLES[standing], "counted_points": counted,
            "running_total": round(total, 4), "withdrawn_by": withdrawn,
        })  # fmt: skip
    offset = int(s.utc_offset_hours * 3600)
    exported = tabular(format, named(items, s.directory), LEDGER_COLUMNS, offset, "ledger", "扣分台账")
    if exported is not None:
        return exported
    return {"since": since, "until": until, "agency": scoped(who, agency), "handler_id": handler_id,
            "total_points": round(total, 4), "items": items}  # fmt: skip
