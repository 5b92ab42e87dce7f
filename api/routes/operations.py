"""Operations: the page, who a key is, liveness, readiness (store and Kafka) and Prometheus metrics."""

import asyncio
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.auth import Caller
from api.deps import Svc, caller
from api.problems import ProblemModel, problem

STATIC = Path(__file__).resolve().parent.parent / "static"
router = APIRouter()


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    """The supervisors' page: a plain static bundle calling this API with the user's key."""
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")


@router.get("/v1/me", tags=["operations"])
async def me(who: Annotated[Caller, Depends(caller)]) -> dict[str, str | None]:
    """Who the key belongs to: the page shows the actions its role may take."""
    return {"name": who.name, "role": who.role, "scope": who.scope}


@router.get("/v1/directory", tags=["operations"])
async def directory(who: Annotated[Caller, Depends(caller)], s: Svc) -> dict[str, dict[str, str]]:
    """The names of agencies and officials the key may see, and of the rule pack's items and steps, for showing
    names instead of codes."""
    names: dict[str, dict[str, str]] = s.directory.visible(who.scope)
    names["items"], names["steps"] = {}, {}
    for versions in s.pack.versions.values() if s.pack is not None else ():
        for item in versions:
            if item.name:
                names["items"][item.code] = item.name
            names["steps"].update({st.name: st.title for st in item.steps if st.title})
    return names


@router.get("/healthz", tags=["operations"])
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", tags=["operations"], responses={503: {"model": ProblemModel}})
async def readyz(request: Request, s: Svc) -> Response:
    try:
        ok = await s.store.ping()
    except Exception as e:  # the store's own error says best what is wrong
        return problem(request, 503, "Not ready", f"the store does not answer: {e}")
    if not ok:
        return problem(request, 503, "Not ready", "the store does not answer")
    kafka = "not configured"
    if s.emitter is not None:
        failed = await asyncio.to_thread(s.emitter.reachable)
        if failed:
            return problem(request, 503, "Not ready", f"Kafka does not answer ({failed}); HTTP ingest needs it")
        kafka = "ok"
    return JSONResponse({"status": "ready", "store": "ok", "kafka": kafka})


@router.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)
