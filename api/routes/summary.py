"""The board's key figures in one call: overdue now (and not yet handled), today's red and yellow cards, open 督办
and appeals — what a leader wants to see first on a phone."""

import time
from typing import Any

from fastapi import APIRouter

from api.deps import Reader, Services, Svc, scoped
from rules.records import RED_CARD_KINDS, YELLOW_CARD_KINDS
from rules.timeutil import format_instant
from store.base import OverdueQuery, Period, WorkQuery

router = APIRouter(tags=["supervision"])
CAP = 1000  # a tile shows "1000+" beyond this: the lists themselves page on


async def _count_overdue(s: Services, agency: str | None, now: int, handled: bool | None) -> int:
    page = await s.store.overdue(OverdueQuery(agency=agency, limit=CAP, handled=handled), now)
    return len(page.items) + (1 if page.next_cursor else 0)


async def _count_work(s: Services, q: WorkQuery) -> int:
    page = await s.store.search_work(q)
    return len(page.items) + (1 if page.next_cursor else 0)


@router.get("/v1/summary")
async def summary(who: Reader, s: Svc, agency: str | None = None) -> dict[str, Any]:
    """Counts up to 1,000 each (``1001`` means more); "today" is the local day of the display zone."""
    scope = scoped(who, agency)
    now = int(time.time())
    offset = int(s.utc_offset_hours * 3600)
    midnight = (now + offset) // 86400 * 86400 - offset
    daily = await s.store.daily(Period(midnight, now + 1, scope), offset)
    kinds: dict[str, int] = {}
    for d in daily:
        kinds[d["kind"]] = kinds.get(d["kind"], 0) + d["count"]
    return {
        "as_of": format_instant(now),
        "today_since": format_instant(midnight),
        "overdue": await _count_overdue(s, scope, now, None),
        "overdue_unhandled": await _count_overdue(s, scope, now, False),
        "red_today": sum(kinds.get(k, 0) for k in RED_CARD_KINDS),
        "yellow_today": sum(kinds.get(k, 0) for k in YELLOW_CARD_KINDS),
        "open_supervisions": await _count_work(s, WorkQuery("supervision", "open", scope, limit=CAP)),
        "overdue_supervisions": await _count_work(s, WorkQuery("supervision", None, scope, overdue_at=now, limit=CAP)),
        "pending_appeals": await _count_work(s, WorkQuery("appeal", "pending", scope, limit=CAP)),
    }
