"""Scorecards: points, counts, on-time rates and the five-colour index per agency and official; daily counts."""

from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import Response

from api.auth import Caller
from api.deps import Reader, Services, Svc, instant, scoped
from api.exports import Column, tabular
from api.models import Scorecard
from rules.errors import BadInput
from rules.indicators import colour_for
from store.base import Period

router = APIRouter(tags=["scorecards"])
Format = Literal["json", "csv", "xlsx"]


def _columns(key: str) -> list[Column]:
    return [(key, "机构" if key == "agency" else "经办人", "text"), ("points", "扣分", "number"),
            ("steps_completed", "办结环节数", "number"), ("steps_on_time", "按时办结", "number"),
            ("on_time_rate", "按时率", "number"), ("colour", "五色", "colour")]  # fmt: skip


def _exported(s: Services, cards: list[Scorecard], by: str, format: Format) -> Response | None:
    rows = [{**c.model_dump(), by: c.key} for c in cards]
    title = "机构评分" if by == "agency" else "经办人评分"
    return tabular(format, rows, _columns(by), int(s.utc_offset_hours * 3600), f"scorecards-{by}", title)


def _period(s: Services, who: Caller, since: str, until: str, agency: str | None) -> Period:
    offset = int(s.utc_offset_hours * 3600)
    start, end = instant(since, "since", offset), instant(until, "until", offset)
    assert start is not None and end is not None
    if end <= start:
        raise BadInput("`until` must come after `since`")
    return Period(start, end, scoped(who, agency))


async def _cards(s: Services, who: Caller, by: str, since: str, until: str, agency: str | None) -> list[Scorecard]:
    out = []
    for c in await s.store.scorecard(by, _period(s, who, since, until, agency)):
        rate = c["steps_on_time"] / c["steps_completed"] if c["steps_completed"] else None
        out.append(Scorecard(**c, on_time_rate=rate, colour=colour_for(c["points"], s.bands)))
    return out


@router.get("/v1/scorecards/agencies", response_model=list[Scorecard])
async def agency_cards(
    who: Reader, s: Svc, since: str, until: str, agency: str | None = None, format: Format = "json"
) -> list[Scorecard] | Response:
    """Per agency: penalty points, records by kind, on-time rate and the five-colour index for the period;
    ``format=xlsx`` or ``csv`` exports them with Chinese headers."""
    cards = await _cards(s, who, "agency", since, until, agency)
    return _exported(s, cards, "agency", format) or cards


@router.get("/v1/scorecards/handlers", response_model=list[Scorecard])
async def handler_cards(
    who: Reader, s: Svc, since: str, until: str, agency: str | None = None, format: Format = "json"
) -> list[Scorecard] | Response:
    """Per official (handler), as for agencies."""
    cards = await _cards(s, who, "handler", since, until, agency)
    return _exported(s, cards, "handler", format) or cards


@router.get("/v1/stats/daily")
async def daily(who: Reader, s: Svc, since: str, until: str, agency: str | None = None) -> list[dict[str, Any]]:
    """Records per local day and kind, for charts."""
    period = _period(s, who, since, until, agency)
    return await s.store.daily(period, int(s.utc_offset_hours * 3600))
