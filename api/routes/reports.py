"""Monthly and quarterly 通报: agencies and officials ranked on rates, the change since the previous period, the
worst cases, open 督办 and appeals — as JSON, xlsx or CSV (``api.exports``)."""

from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import Response

from api.auth import Caller
from api.deps import Reader, Services, Svc, scoped
from api.exports import Column, collected, named, tabular, xlsx
from rules.agency import in_subtree
from rules.indicators import indicators, period_bounds, ranked, rolled_up
from rules.records import PENALTY_KINDS
from rules.timeutil import format_instant
from store.base import Period, RecordQuery, WorkQuery

router = APIRouter(tags=["ledger and reports"])
WORST = 10
RATES: list[Column] = [
    ("points", "扣分", "number"), ("steps_completed", "办结环节数", "number"), ("on_time_rate", "按时率", "number"),
    ("red_cards", "红牌", "number"), ("yellow_cards", "黄牌", "number"), ("red_per_100", "红牌/百件", "number"),
    ("yellow_per_100", "黄牌/百件", "number"), ("points_per_100", "扣分/百件", "number"),
    ("late_reports_per_100", "迟报/百件", "number"), ("early_rate", "提前办结率", "number"),
    ("duration_avg", "平均用时/时限", "number"), ("duration_p95", "95%用时/时限", "number"),
    ("colour", "五色", "colour"), ("rank_change", "名次变化", "number"),
]  # fmt: skip
AGENCY_COLUMNS: list[Column] = [("rank", "名次", "number"), ("key", "部门编码", "text"), ("name", "部门", "text"),
                                *RATES, ("open_supervisions", "未办结督办", "number"),
                                ("pending_appeals", "待复核申诉", "number")]  # fmt: skip
OFFICIAL_COLUMNS: list[Column] = [("rank", "名次", "number"), ("key", "经办人编码", "text"), ("name", "经办人", "text"),
                                  *RATES]  # fmt: skip
CASE_COLUMNS: list[Column] = [("case_id", "办件编号", "text"), ("agency_name", "部门", "text"),
                              ("item_code", "事项", "text"), ("points", "扣分", "number"),
                              ("records", "扣分记录数", "number")]  # fmt: skip


async def _open_work(s: Services, scope: str | None) -> dict[str, dict[str, int]]:
    """Open orders and pending appeals per agency (each counted for the agency and every agency above it)."""
    counts: dict[str, dict[str, int]] = {}
    for kind, status, field in (("supervision", "open", "open_supervisions"), ("supervision", "replied",
                                "open_supervisions"), ("appeal", "pending", "pending_appeals")):  # fmt: skip
        cursor = None
        for _ in range(100):  # at most 100,000 open items
            page = await s.store.search_work(WorkQuery(kind, status, scope, limit=1000, cursor=cursor))
            for doc in page.items:
                parts = doc["agency_id"].split("/")
                for i in range(1, len(parts) + 1):
                    c = counts.setdefault("/".join(parts[:i]), {"open_supervisions": 0, "pending_appeals": 0})
                    c[field] += 1
            cursor = page.next_cursor
            if cursor is None:
                break
    return counts


async def _worst_cases(s: Services, period: Period) -> list[dict[str, Any]]:
    q = RecordQuery(PENALTY_KINDS, period.agency, None, None, None, period.since, period.until, 1000)
    cases: dict[str, dict[str, Any]] = {}
    for r in await collected(s.store.export_records(q), 1_000_000):
        if r.get("revoked_by") or not r["points"]:
            continue
        c = cases.setdefault(r["case_id"], {"case_id": r["case_id"], "agency_id": r["agency_id"],
                                            "item_code": r["item_code"], "points": 0.0, "records": 0})  # fmt: skip
        c["points"] += r["points"]
        c["records"] += 1
    return sorted(cases.values(), key=lambda c: (-c["points"], c["case_id"]))[:WORST]


async def build_report(s: Services, who: Caller, period: str, agency: str | None) -> dict[str, Any]:
    offset = int(s.utc_offset_hours * 3600)
    since, until, prev = period_bounds(period, offset)
    p_since, p_until, _ = period_bounds(prev, offset)
    scope = scoped(who, agency)
    now, before = Period(since, until, scope), Period(p_since, p_until, scope)
    store = s.store
    agencies = ranked(rolled_up(await store.scorecard("agency", now), await store.step_ratios("agency", now)),
                      rolled_up(await store.scorecard("agency", before)), s.index_bands)  # fmt: skip
    work = await _open_work(s, scope)
    for row in agencies:
        row.update(work.get(row["key"], {"open_supervisions": 0, "pending_appeals": 0}))
        row["name"] = s.directory.agency(row["key"])
    ratios = await store.step_ratios("handler", now)
    officials = ranked([indicators(c, ratios.get(c["key"])) for c in await store.scorecard("handler", now)],
                       [indicators(c) for c in await s.store.scorecard("handler", before)], s.index_bands)  # fmt: skip
    return {
        "period": period, "previous": prev, "since": format_instant(since), "until": format_instant(until),
        "agency": scope, "agencies": [a for a in agencies if scope is None or in_subtree(a["key"], scope)],
        "officials": [{**o, "name": s.directory.official(o["key"])} for o in officials],
        "worst_cases": named(await _worst_cases(s, now), s.directory),
    }  # fmt: skip


@router.get("/v1/reports/{period}", response_model=None)
async def report(
    period: str, who: Reader, s: Svc, agency: str | None = None, format: Literal["json", "csv", "xlsx"] = "json"
) -> dict[str, Any] | Response:
    """通报 for a month (``2026-11``) or quarter (``2026Q4``) in local time; CSV holds the agencies' ranking."""
    body = await build_report(s, who, period, agency)
    offset = int(s.utc_offset_hours * 3600)
    if format == "xlsx":
        sheets = [("部门排名", AGENCY_COLUMNS, body["agencies"]), ("人员排名", OFFICIAL_COLUMNS, body["officials"]),
                  ("问题办件", CASE_COLUMNS, body["worst_cases"])]  # fmt: skip
        return xlsx(sheets, offset, f"通报-{period}.xlsx")
    exported = tabular(format, body["agencies"], AGENCY_COLUMNS, offset, f"通报-{period}", "部门排名")
    return body if exported is None else exported
