"""What routes depend on: the services the app was assembled with, the caller, roles, scope and parameters.

(No ``from __future__ import annotations``: FastAPI reads these signatures.)
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Header, Request

from api.auth import READ_ROLES, Caller, Keyring, narrow
from rules.agency import in_subtree
from rules.errors import BadInput, Forbidden, NotFound, Unavailable
from rules.records import RECORD_KINDS
from rules.timeutil import parse_instant
from store.base import NEWEST_FIRST, Store, decode_cursor


@dataclass
class Services:
    """Everything a route may use, set once when the app is assembled (``api.app.create_api``)."""

    store: Store
    keyring: Keyring
    bands: list[float]
    utc_offset_hours: float = 8.0
    emitter: Any = None  # streams.emitter.Emitter; None: the HTTP ingest answers 503
    feed: Any = None  # streams.alerts.RecordFeed; None: the alert stream answers 503
    subscriptions: Any = None  # streams.subscriptions.SubscriptionLog; None: subscriptions answer 503
    heartbeat_seconds: float = 15.0
    max_body_bytes: int = 4 * 1024 * 1024  # largest request body the HTTP ingest reads
    pack: Any = None  # rules.pack.RulePack; None: calendar coverage answers 503
    actions: Any = None  # streams.action_log.ActionLog; None: 督办, appeals and acks answer 503
    index_bands: list[float] = field(default_factory=lambda: [1.0, 3.0, 6.0, 10.0])  # points per 100 steps
    sessions: Any = None  # api.sessions.Sessions: the page's sign-in
    directory: Any = None  # rules.directory.Directory: names for codes


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


async def caller(request: Request, authorization: Annotated[str | None, Header()] = None) -> Caller:
    """Set by the authentication middleware; the header parameter documents the scheme in OpenAPI."""
    found: Caller = request.state.caller
    return found


async def reader(who: Annotated[Caller, Depends(caller)]) -> Caller:
    if who.role not in READ_ROLES:
        raise Forbidden(f"role {who.role!r} may not read; use a supervisor, agency or admin key")
    return who


async def admin(who: Annotated[Caller, Depends(caller)], s: Annotated[Services, Depends(services)]) -> Caller:
    if who.role != "admin":
        raise Forbidden(f"role {who.role!r} may not manage subscriptions; use an admin key")
    if s.subscriptions is None:
        raise Unavailable("subscriptions need Kafka: set KAFKA_BOOTSTRAP_SERVERS")
    return who


async def ingester(who: Annotated[Caller, Depends(caller)], s: Annotated[Services, Depends(services)]) -> Caller:
    if who.role not in ("ingest", "admin"):
        raise Forbidden(f"role {who.role!r} may not send events; use an ingest key")
    if s.emitter is None:
        raise Unavailable("this API has no Kafka (set KAFKA_BOOTSTRAP_SERVERS); the HTTP ingest needs it")
    return who


Svc = Annotated[Services, Depends(services)]
Reader = Annotated[Caller, Depends(reader)]
Admin = Annotated[Caller, Depends(admin)]
Ingester = Annotated[Caller, Depends(ingester)]


def scoped(who: Caller, agency: str | None) -> str | None:
    """The agency subtree a query may cover (``rules.agency``); outside the caller's scope it is refused."""
    return narrow(who, agency)


async def case_in_scope(s: Services, who: Caller, case_id: str) -> dict[str, Any]:
    """A case document the caller may see; outside its scope as absent as a case that does not exist."""
    doc = await s.store.get_case(case_id)
    if doc is None or not in_subtree(doc["agency_id"], who.scope):
        raise NotFound(f"没有此密钥可见的办件 {case_id!r} (no case {case_id!r} that this key may see)")
    return doc


def checked_cursor(cursor: str | None, shape: tuple[type, ...] = NEWEST_FIRST) -> str | None:
    """Refuse a foreign cursor before any response starts (an export cannot turn into an error midway)."""
    if cursor is not None:
        decode_cursor(cursor, shape)
    return cursor


_LOCAL = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?$")


def instant(value: str | None, name: str, utc_offset: int = 8 * 3600) -> int | None:
    """RFC 3339, or a local date (``2026-11-22``: its midnight) or local time (``2026-11-22 09:30``) in the
    display zone, as supervisors type them."""
    if value is None:
        return None
    m = _LOCAL.match(value.strip())
    if m is not None:
        y, mo, d, h, mi, sec = (int(x) if x else 0 for x in m.groups())
        try:
            return int(datetime(y, mo, d, h, mi, sec, tzinfo=UTC).timestamp()) - utc_offset
        except ValueError as e:
            raise BadInput(f"`{name}` {value!r} 不是有效日期 ({e}); 例如 2026-11-22 或 2026-11-22 09:30") from None
    try:
        return parse_instant(value)
    except BadInput as e:
        raise BadInput(f"`{name}` {e}; 也可写本地日期 2026-11-22 或时间 2026-11-22 09:30") from None


def kinds(values: list[str] | None, name: str = "kind") -> tuple[str, ...]:
    bad = sorted(set(values or ()) - set(RECORD_KINDS))
    if bad:
        raise BadInput(f"`{name}` {bad} unknown; use {', '.join(RECORD_KINDS)}")
    return tuple(values or ())
