"""Supervision: what is overdue now, the records (pages and CSV exports), a case's timeline."""

import csv
import io
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response, StreamingResponse

from api.deps import Reader, Svc, checked_cursor, instant, kinds, scoped
from api.models import PageModel
from api.problems import ProblemModel
from rules.agency import in_subtree
from rules.errors import NotFound
from store.base import OVERDUE_ORDER, OverdueQuery, RecordQuery, Store

router = APIRouter(tags=["supervision"])
# ``revokes``: the record a revocation names; ``revoked_by``: the revocation that revoked this one.
CSV_COLUMNS = (
    "id", "kind", "case_id", "step", "at", "item_code", "agency_id", "handler_id", "points", "revokes", "revoked_by"
)  # fmt: skip


@router.get("/v1/overdue", response_model=PageModel)
async def overdue(
    who: Reader,
    s: Svc,
    agency: str | None = None,
    item_code: str | None = None,
    handler_id: str | None = None,
    kind: Annotated[Literal["step", "case"] | None, Query(description="step or case; both if omitted")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> PageModel:
    """Steps and cases overdue now, longest overdue first, with the seconds past their deadline."""
    cursor = checked_cursor(cursor, OVERDUE_ORDER)
    q = OverdueQuery((kind,) if kind else (), scoped(who, agency), item_code, handler_id, limit, cursor)
    page = await s.store.overdue(q, int(time.time()))
    return PageModel(items=page.items, next_cursor=page.next_cursor)


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
    format: Literal["json", "csv"] = "json",
) -> Response:
    """Records, newest first; ``format=csv`` streams every matching record as a spreadsheet export."""
    q = RecordQuery(
        kinds(kind), scoped(who, agency), item_code, handler_id, case_id,
        instant(since, "since"), instant(until, "until"), limit, checked_cursor(cursor),
    )  # fmt: skip
    if format == "csv":
        return StreamingResponse(_csv(s.store, q), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": 'attachment; filename="records.csv"'})  # fmt: skip
    page = await s.store.search_records(q)
    return JSONResponse(PageModel(items=page.items, next_cursor=page.next_cursor).model_dump())


@router.get("/v1/cases/{case_id}", responses={404: {"model": ProblemModel}})
async def case(case_id: str, who: Reader, s: Svc) -> dict[str, Any]:
    """The case's timeline: each step's times, limit, deadline, counted seconds and status; its records."""
    doc = await s.store.get_case(case_id)
    if doc is None or not in_subtree(doc["agency_id"], who.scope):
        raise NotFound(f"no case {case_id!r} that this key may see")
    return doc


async def _csv(store: Store, q: RecordQuery) -> AsyncIterator[bytes]:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    n = 0
    async for r in store.export_records(q):
        writer.writerow([r.get(c) for c in CSV_COLUMNS])
        n += 1
        if n % 1000 == 0:
            yield buf.getvalue().encode()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode()
