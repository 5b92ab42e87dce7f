"""The record trail's last verification (``approval-monitor verify``), for supervisors."""

from typing import Any

from fastapi import APIRouter

from api.deps import Reader, Svc
from api.problems import ProblemModel
from rules.errors import Forbidden, NotFound

router = APIRouter(tags=["integrity"])


@router.get("/v1/integrity", responses={404: {"model": ProblemModel}})
async def integrity(who: Reader, s: Svc) -> dict[str, Any]:
    """Whether the stored records still form the chains the sink wrote and agree with the anchors kept outside the
    store, as of the last ``approval-monitor verify``: entries, anchors checked, and the first finding per chain."""
    if who.role not in ("supervisor", "admin"):
        raise Forbidden(f"role {who.role!r} may not see the trail's verification; use a supervisor key")
    report = await s.store.get_integrity()
    if report is None:
        raise NotFound("the record trail was never verified: run `approval-monitor verify` (e.g. hourly, from cron)")
    return report
