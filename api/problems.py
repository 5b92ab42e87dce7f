"""Every error the API answers is an RFC 9457 problem, mapped here and only here.

Routes raise the product's own error kinds (``rules.errors``); each kind has
one status and title.  A request the schema refuses is a 422 naming each bad
field; a store that is not answering now (its own ``unavailable`` says which
of its client's errors mean that) is a 503 to retry; anything else that
escapes is a bug and answers 500 without details.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from rules.errors import (
    BadCursor,
    BadInput,
    Conflict,
    Forbidden,
    MonitorError,
    NotFound,
    OutOfScope,
    TooLarge,
    Unavailable,
)
from store.base import Store

log = logging.getLogger("approval_monitor.api")
STORE_AWAY = (
    "存储暂时无法应答（启动中、过载或不可达），请稍后重试 / the store is not answering now: retry in a few seconds"
)


class BadHeader(BadInput):
    """A request header that is not what it must be."""


class BadBody(BadInput):
    """A request body that is not the JSON the operation takes."""


# Most specific first: the first kind an error is an instance of decides.
STATUS: tuple[tuple[type[MonitorError], int, str], ...] = (
    (BadHeader, 400, "Bad header"),
    (BadBody, 400, "Bad body"),
    (BadCursor, 400, "Bad cursor"),
    (TooLarge, 413, "Content too large"),
    (BadInput, 422, "Bad parameter"),
    (OutOfScope, 403, "Forbidden"),
    (Forbidden, 403, "Forbidden"),
    (NotFound, 404, "Not found"),
    (Conflict, 409, "Conflict"),
    (Unavailable, 503, "Not available"),
)


class ProblemModel(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None


def problem(request: Request, status: int, title: str, detail: str) -> JSONResponse:
    body = ProblemModel(title=title, status=status, detail=detail, instance=str(request.url.path))
    return JSONResponse(body.model_dump(), status_code=status, media_type="application/problem+json")


def status_of(exc: MonitorError) -> tuple[int, str]:
    for kind, status, title in STATUS:
        if isinstance(exc, kind):
            return status, title
    return 400, "Bad request"


def install(app: FastAPI, store: Store) -> None:
    """Register the one mapping from errors to problems."""

    @app.exception_handler(MonitorError)
    async def on_error(request: Request, exc: MonitorError) -> JSONResponse:
        status, title = status_of(exc)
        return problem(request, status, title, str(exc))

    async def on_store_error(request: Request, exc: Exception) -> JSONResponse:
        if not store.unavailable(exc):
            raise exc  # a bug: 500 without details, logged by the server
        log.warning("the store did not answer: %r", exc, extra={"path": request.url.path})
        response = problem(request, 503, "Not available", STORE_AWAY)
        response.headers["Retry-After"] = "5"
        return response

    for kind in store.client_errors:
        app.add_exception_handler(kind, on_store_error)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(p) for p in e['loc'][1:]) or e['loc'][0]}: {e['msg']}" for e in exc.errors()]
        return problem(request, 422, "Bad request", "; ".join(parts))
