"""Supervision: what is overdue now, the records (pages, CSV and xlsx exports), a case's timeline."""

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from api.deps import Reader, Svc, case_in_scope, checked_cursor, instant, kinds, scoped
from api.exports import Column, collected, csv_stream, named, named_stream, xlsx
from api.models import PageModel
from api.problems import ProblemModel
from store.base import OVERDUE_ORDER, OverdueQuery, RecordQuery

router = APIRouter(tags=["supervision"])
# ``revokes``: the record a revocation or adjustment withdraws; ``revoked_by``: what withdrew this one.
RECORD_COLUMNS: list[Column] = [
    ("id", "记录编号", "text"), ("kind", "类型", "kind"), ("case_id", "办件编号", "text"), ("step", "环节", "text"),
    ("at", "时间", "time"), ("item_code", "事项", "text"), ("agency_name", "部门", "text"),
    ("agency_id", "部门编码", "text"), ("handler_name", "经办人", "text"), ("handler_id", "经办人编码", "text"),
    ("points", "扣分", "number"), ("revokes", "撤销或核销的记录", "text"),
    ("revoked_by", "被撤销或核销于", "text"),
]  # fmt: skip
XLSX_ROWS = 100_000


@router.get("/v1/overdue", response_model=PageModel)
async def overdue(
    who: Reader,
    s: Svc,
    agency: str | None = None,
    item_code: str | None = None,
    handler_id: str | None = None,
    kind: Annotated[Literal["step", "case"] | None, Query(description="step or case; both if omitted")] = None,
    handled: Annotated[bool | None, Query(description="已处理 (true) or 未处理 (false); both if omitted")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> PageModel:
    """Steps and cases overdue now, longest overdue first, with the seconds past their deadline and whether a
    supervisor marked the alarm handled."""
    cursor = checked_cursor(cursor, OVERDUE_ORDER)
    q = OverdueQuery(
        (kind,) if kind else (), scoped(who, agency), item_code, handler_id, limit, cursor, handled=handled
    )
    page = await s.store.overdue(q, int(time.time()))
    return PageModel(items=page.items, next_cursor=page.next_cursor)


@router.get("/v1/at-risk", response_model=PageModel)
async def at_risk(
    who: Reader,
    s: Svc,
    agency: str | None = None,
    item_code: str | None = None,
    handler_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: str | None = None,
) -> PageModel:
    """Running steps and cases not yet overdue, the soonest deadline first: the time left (wall clock and, with the
    rule pack, working time on the item's calendar), the share of the limit used, and whether the case is paused."""
    now = int(time.time())
    q = OverdueQuery((), scoped(who, agency), item_code, handler_id, limit, checked_cursor(cursor, OVERDUE_ORDER),
                     upcoming=True)  # fmt: skip
    page = await s.store.overdue(q, now)
    items = []
    for o in page.items:
        left = -o.pop("overdue_seconds")
        o["left_seconds"] = left
        item = None if s.pack is None else s.pack.items.get(o["item_code"])
        if item is not None:
            working = item.calendar.work(now, now + left)
            o["left_working_seconds"] = working
            if o.get("limit_seconds"):
                o["used_share"] = round(max(0.0, 1 - working / o["limit_seconds"]), 4)
        items.append(o)
    return PageModel(items=items, next_cursor=page.next_cursor)


@router.get("/v1/records", response_model=PageModel)
async def records(
    who: Reader,
    s: Svc,
    kind: Annotated[list[str] | None, Query()] = None,
    agency: str | None = None,
    item_code: str | None = None,
    handler_id: str | None = None,
    case_id: str | None = None,
    since: Annotated[str | None, Query(description="RFC 3339, inclusive")] = None,
    until: Annotated[str | None, Query(description="RFC 3339, exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
    format: Literal["json", "csv", "xlsx"] = "json",
) -> Response:
    """Records, newest first; ``format=csv`` (streamed, with a byte-order mark) or ``xlsx`` exports every matching
    record with Chinese headers and local times."""
    offset = int(s.utc_offset_hours * 3600)
    q = RecordQuery(
        kinds(kind), scoped(who, agency), item_code, handler_id, case_id,
        instant(since, "since", offset), instant(until, "until", offset), limit, checked_cursor(cursor),
    )  # fmt: skip
    if format == "csv":
        stream = named_stream(s.store.export_records(q), s.directory)
        return csv_stream(stream, RECORD_COLUMNS, offset, "records.csv")
    if format == "xlsx":
        rows = named(await collected(s.store.export_records(q), XLSX_ROWS), s.directory)
        return xlsx([("记录", RECORD_COLUMNS, rows)], offset, "records.xlsx")
    page = await s.store.search_records(q)
    return JSONResponse(PageModel(items=page.items, next_cursor=page.next_cursor).model_dump())


@router.get("/v1/cases/{case_id}", responses={404: {"model": ProblemModel}})
async def case(case_id: str, who: Reader, s: Svc) -> dict[str, Any]:
    """The case's timeline: each step's times, limit, deadline, counted seconds and status; its records."""
    return await case_in_scope(s, who, case_id)
