"""Scorecards: points, counts, on-time rates and the five-colour index per agency and official; daily counts."""

from typing import Any

from fastapi import APIRouter

from api.auth import Caller
from api.deps import Reader, Services, Svc, instant, scoped
from api.models import Scorecard
from rules.errors import BadInput
from rules.indicators import colour_for
from store.base import Period

router = APIRouter(tags=["scorecards"])


def _period(who: Caller, since: str, until: str, agency: str | None) -> Period:
    start, end = instant(since, "since"), instant(until, "until")
    assert start is not None and end is not None
    if end <= start:
        raise BadInput("`until` must come after `since`")
    return Period(start, end, scoped(who, agency))


async def _cards(s: Services, who: Caller, by: str, since: str, until: str, agency: str | None) -> list[Scorecard]:
    out = []
    for c in await s.store.scorecard(by, _period(who, since, until, agency)):
        rate = c["steps_on_time"] / c["steps_completed"] if c["steps_completed"] else None
        out.append(Scorecard(**c, on_time_rate=rate, colour=colour_for(c["points"], s.bands)))
    return out


@router.get("/v1/scorecards/agencies", response_model=list[Scorecard])
async def agency_cards(who: Reader, s: Svc, since: str, until: str, agency: str | None = None) -> list[Scorecard]:
    """Per agency: penalty points, records by kind, on-time rate and the five-colour index for the period."""
    return await _cards(s, who, "agency", since, until, agency)


@router.get("/v1/scorecards/handlers", response_model=list[Scorecard])
async def handler_cards(who: Reader, s: Svc, since: str, until: str, agency: str | None = None) -> list[Scorecard]:
    """Per official (handler), as for agencies."""
    return await _cards(s, who, "handler", since, until, agency)


@router.get("/v1/stats/daily")
async def daily(who: Reader, s: Svc, since: str, until: str, agency: str | None = None) -> list[dict[str, Any]]:
    """Records per local day and kind, for charts."""
    start, end = instant(since, "since"), instant(until, "until")
    assert start is not None and end is not None
    return await s.store.daily(Period(start, end, scoped(who, agency)), int(s.utc_offset_hours * 3600))
