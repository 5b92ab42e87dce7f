"""How far the rule pack's calendars list their holidays: the page warns before they run out (rules.coverage)."""

import time
from typing import Any

from fastapi import APIRouter

from api.auth import Caller
from api.deps import Reader, Services, Svc
from api.problems import ProblemModel
from rules.calendar import BusinessCalendar
from rules.coverage import coverage
from rules.errors import Unavailable
from rules.timeutil import format_instant
from store.base import OverdueQuery

router = APIRouter(tags=["calendars"])
BEYOND_SHOWN = 20
_SCAN = 1000
_END_OF_TIME = 2**53


async def _beyond(s: Services, who: Caller, calendar: str, covered_end: int) -> list[dict[str, Any]]:
    """Open clocks of the calendar's items whose deadline falls past its cover (at most ``_SCAN`` looked at)."""
    items = {code for code, vs in s.pack.versions.items() for i in vs if i.calendar_name == calendar}
    page = await s.store.overdue(OverdueQuery(agency=who.scope, limit=_SCAN, due_from=covered_end), _END_OF_TIME)
    return [
        {k: o[k] for k in ("kind", "case_id", "step", "agency_id", "item_code", "deadline")}
        for o in page.items
        if o["item_code"] in items
    ]


@router.get("/v1/calendars", responses={503: {"model": ProblemModel}})
async def calendars(who: Reader, s: Svc) -> dict[str, Any]:
    """Each calendar of the rule pack: the last day its holidays are listed for, the days left until then, the years
    listed only provisionally, the warning supervisors should act on (sixty days ahead), and the open clocks whose
    deadline already lies past the cover (their deadlines may be days early there)."""
    if s.pack is None:
        raise Unavailable("the API was started without the rule pack; set APPROVAL_MONITOR_RULES")
    now = int(time.time())
    out = []
    for c in coverage(s.pack, now):
        cal = s.pack.calendars[c.calendar]
        assert isinstance(cal, BusinessCalendar)
        beyond = [] if cal.covered_end is None else await _beyond(s, who, c.calendar, cal.covered_end)
        out.append(
            {
                "calendar": c.calendar,
                "timezone": cal.timezone,
                "covered_until": None if c.last_day is None else c.last_day.isoformat(),
                "days_left": c.days_left,
                "provisional_years": list(c.provisional),
                "warning": c.warning,
                # Open clocks (within the caller's scope) whose deadline lies past the cover: judged, flagged, listed.
                "clocks_beyond": beyond[:BEYOND_SHOWN],
                "clocks_beyond_count": len(beyond),
            }
        )
    return {"as_of": format_instant(now), "rules": s.pack.source, "calendars": out}
