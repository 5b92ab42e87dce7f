"""The page's sign-in and sign-out (``api.sessions``): a key exchanged for an HTTP-only session cookie."""

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from api.auth import hash_key
from api.deps import Svc
from api.problems import ProblemModel, problem
from api.sessions import COOKIE
from rules.timeutil import format_instant

router = APIRouter(tags=["operations"])


class SignIn(BaseModel):
    key: str = Field(min_length=1, max_length=500)


@router.post("/v1/session", responses={401: {"model": ProblemModel}})
async def sign_in(body: SignIn, request: Request, s: Svc) -> Response:
    """Exchange an API key for a session cookie (HTTP-only, SameSite=Strict) that expires."""
    who = s.keyring.find(body.key)
    if who is None:
        response = problem(request, 401, "Unauthorized", "密钥无效：请检查后重新输入 (unknown key)")
        response.delete_cookie(COOKIE, path="/")
        return response
    token, expires = s.sessions.issue(hash_key(body.key), int(time.time()))
    out: dict[str, Any] = {
        "name": who.name,
        "role": who.role,
        "scope": who.scope,
        "expires_at": format_instant(expires),
    }
    response = JSONResponse(out)
    response.set_cookie(COOKIE, token, max_age=expires - int(time.time()), path="/", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")  # fmt: skip
    return response


@router.delete("/v1/session", status_code=204)
async def sign_out() -> Response:
    """Forget the session cookie."""
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/")
    return response
