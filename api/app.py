"""The supervisors' HTTP API, assembled: what is overdue now, what happened to a case, how each agency scores.

Every error is an RFC 9457 problem (``api.problems``); every list is a cursor
page; every endpoint applies the caller's agency scope, exports and counts
included.  Routes live in ``api.routes`` by concern, and reach what the app was
assembled with through ``api.deps``; this module only puts them together.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry, Counter

from api import docs, problems
from api.auth import Keyring
from api.deps import Services
from api.problems import ProblemModel, problem
from api.routes import (
    alerts,
    appeals,
    calendars,
    ingest,
    integrity,
    ledger,
    operations,
    reports,
    scorecards,
    session,
    subscriptions,
    summary,
    supervision,
    supervisions,
)
from api.sessions import COOKIE, CSRF_HEADER, CSRF_VALUE, Sessions
from rules.directory import Directory
from store.base import Store

ROUTERS = (
    operations, session, summary, supervision, supervisions, appeals, ledger, reports, scorecards, alerts,
    subscriptions, ingest, integrity, calendars,
)  # fmt: skip


def create_api(
    store: Store,
    keyring: Keyring,
    *,
    bands: list[float],
    utc_offset_hours: float = 8.0,
    emitter: Any = None,
    feed: Any = None,
    subscriptions: Any = None,
    heartbeat_seconds: float = 15.0,
    max_body_bytes: int = 4 * 1024 * 1024,
    pack: Any = None,
    actions: Any = None,
    index_bands: list[float] | None = None,
    sessions: Sessions | None = None,
    directory: Directory | None = None,
) -> FastAPI:
    app = FastAPI(
        title="approval-monitor",
        version="0.1.0",
        description="E-supervision of administrative approvals (行政审批电子监察): overdue steps, records, case "
        "timelines and scorecards.  Authenticate with `Authorization: Bearer <key>`.",
        responses={401: {"model": ProblemModel}, 403: {"model": ProblemModel}, 422: {"model": ProblemModel}},
        docs_url=None,  # served from the package's own files (api.docs): no CDN
        redoc_url=None,
    )
    docs.install(app)
    app.state.services = Services(
        store,
        keyring,
        bands,
        utc_offset_hours,
        emitter,
        feed,
        subscriptions,
        heartbeat_seconds,
        max_body_bytes,
        pack,
        actions,
    )
    if index_bands is not None:
        app.state.services.index_bands = index_bands
    sessions = app.state.services.sessions = sessions or Sessions()
    app.state.services.directory = directory or Directory()
    registry = app.state.registry = CollectorRegistry()
    requests = Counter(
        "approval_api_requests", "API requests by endpoint and status", ["endpoint", "status"], registry=registry
    )
    problems.install(app, store)

    @app.middleware("http")
    async def authenticate_and_count(request: Request, call_next: Any) -> Response:
        if request.url.path.startswith("/v1/"):
            # Authentication before anything else, so a caller without a key learns nothing, not even
            # which parameters an endpoint takes.
            header = request.headers.get("authorization")
            if header is not None or request.url.path == "/v1/session":
                found = keyring.find(header.removeprefix("Bearer ").strip() if header else None)
            else:  # the page: a session cookie (api.sessions)
                digest = sessions.check(request.cookies.get(COOKIE), int(time.time()))
                found = None if digest is None else keyring.find_digest(digest)
                unsafe = request.method not in ("GET", "HEAD", "OPTIONS")
                if found is not None and unsafe and request.headers.get(CSRF_HEADER) != CSRF_VALUE:
                    requests.labels("csrf", "403").inc()
                    return problem(
                        request, 403, "Forbidden", f"a signed-in page sends `X-Requested-With: {CSRF_VALUE}`"
                    )
            if found is None and request.url.path != "/v1/session":
                requests.labels("unauthenticated", "401").inc()
                return problem(request, 401, "Unauthorized", "give a valid API key as `Authorization: Bearer <key>`, "
                               "or sign in on the page (POST /v1/session)")  # fmt: skip
            request.state.caller = found
        response: Response = await call_next(request)
        route = request.scope.get("route")
        requests.labels(getattr(route, "path", "unmatched"), str(response.status_code)).inc()
        return response

    app.mount("/static", StaticFiles(directory=Path(__file__).resolve().parent / "static"), name="static")
    for module in ROUTERS:
        app.include_router(module.router)
    return app
