"""The supervisors' HTTP API: what is overdue now, what happened to a case, how each agency and official scores.

Every error is an RFC 9457 problem (``application/problem+json``) naming what
was wrong and how to fix it; every list is a cursor page; every endpoint
applies the caller's agency scope, exports and counts included.

(No ``from __future__ import annotations`` here: FastAPI must see the real
dependency objects in the endpoint signatures, which are closures.)
"""

import asyncio
import csv
import dataclasses
import io
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from fastapi import Body, Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from api.auth import READ_ROLES, Caller, Keyring, narrow
from rules.timeutil import TimestampError, parse_instant
from store.base import DeliveryQuery, OverdueQuery, Period, RecordQuery, Store, decode_cursor, in_subtree
from streams.alerts import decode_position
from streams.emitter import Sent
from streams.subscriptions import Subscription, new_id, new_secret, now_text

COLOURS = ("green", "blue", "yellow", "orange", "red")
RECORD_KINDS = ("reminder", "warning", "overdue", "case_overdue", "procedure", "fee", "suspension", "revocation")


class Problem(Exception):
    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


class ProblemModel(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None


class PageModel(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None = None


class Scorecard(BaseModel):
    key: str
    points: float
    counts: dict[str, int]
    steps_completed: int
    steps_on_time: int
    on_time_rate: float | None
    colour: Literal["green", "blue", "yellow", "orange", "red"]


def colour_for(points: float, bands: list[float]) -> str:
    """Green up to the first band, then blue, yellow, orange; red beyond the last."""
    for colour, limit in zip(COLOURS, bands, strict=False):
        if points <= limit:
            return colour
    return "red"


def _instant(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        return parse_instant(value)
    except TimestampError as e:
        raise Problem(422, "Bad parameter", f"`{name}` {e}") from None


class SubscriptionIn(BaseModel):
    """A webhook: matching records are POSTed to ``url``, signed with ``secret``."""

    model_config = ConfigDict(extra="forbid")

    url: HttpUrl = Field(description="http(s) URL that receives each matching record as a JSON POST")
    agency: str | None = Field(None, min_length=1, description="agency subtree; omitted: the key's scope")
    kinds: list[str] = Field(default_factory=list, description="record kinds; empty: every kind")
    items: list[str] = Field(default_factory=list, description="item codes; empty: every item")
    max_attempts: int | None = Field(None, ge=1, le=100, description="attempts before a record is dead-lettered")
    description: str = Field("", max_length=500)
    secret: str | None = Field(
        None, min_length=16, max_length=200, description="HMAC-SHA256 key for the signature; omitted: one is made"
    )


class SubscriptionOut(BaseModel):
    id: str
    url: str
    agency: str | None
    kinds: list[str]
    items: list[str]
    max_attempts: int | None
    description: str
    created_at: str
    created_by: str


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(description="shown once: keep it to verify signatures")


def create_api(
    store: Store,
    keyring: Keyring,
    *,
    bands: list[float],
    utc_offset_hours: float = 8.0,
    emitter: Any = None,  # streams.emitter.Emitter; None: the HTTP ingest answers 503
    feed: Any = None,  # streams.alerts.RecordFeed; None: the alert stream answers 503
    subscriptions: Any = None,  # streams.subscriptions.SubscriptionLog; None: subscriptions answer 503
    heartbeat_seconds: float = 15.0,
) -> FastAPI:
    app = FastAPI(
        title="approval-monitor",
        version="0.1.0",
        description="E-supervision of administrative approvals (行政审批电子监察): overdue steps, records, case "
        "timelines and scorecards.  Authenticate with `Authorization: Bearer <key>`.",
        responses={401: {"model": ProblemModel}, 403: {"model": ProblemModel}, 422: {"model": ProblemModel}},
    )
    registry = CollectorRegistry()
    requests = Counter(
        "approval_api_requests", "API requests by endpoint and status", ["endpoint", "status"], registry=registry
    )

    def problem(request: Request, status: int, title: str, detail: str) -> JSONResponse:
        body = ProblemModel(title=title, status=status, detail=detail, instance=str(request.url.path))
        return JSONResponse(body.model_dump(), status_code=status, media_type="application/problem+json")

    @app.exception_handler(Problem)
    async def on_problem(request: Request, exc: Problem) -> JSONResponse:
        return problem(request, exc.status, exc.title, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(p) for p in e['loc'][1:]) or e['loc'][0]}: {e['msg']}" for e in exc.errors()]
        return problem(request, 422, "Bad request", "; ".join(parts))

    @app.middleware("http")
    async def count(request: Request, call_next: Any) -> Response:
        if request.url.path.startswith("/v1/"):
            # Authentication before anything else, so a caller without a key learns nothing, not even
            # which parameters an endpoint takes.
            header = request.headers.get("authorization")
            found = keyring.find(header.removeprefix("Bearer ").strip() if header else None)
            if found is None:
                requests.labels("unauthenticated", "401").inc()
                return problem(request, 401, "Unauthorized", "give a valid API key as `Authorization: Bearer <key>`")
            request.state.caller = found
        response: Response = await call_next(request)
        route = request.scope.get("route")
        requests.labels(getattr(route, "path", "unmatched"), str(response.status_code)).inc()
        return response

    async def caller(request: Request, authorization: Annotated[str | None, Header()] = None) -> Caller:
        """Set by the middleware; the header parameter documents the scheme in OpenAPI."""
        found: Caller = request.state.caller
        return found

    async def reader(who: Annotated[Caller, Depends(caller)]) -> Caller:
        if who.role not in READ_ROLES:
            raise Problem(403, "Forbidden", f"role {who.role!r} may not read; use a supervisor, agency or admin key")
        return who

    async def admin(who: Annotated[Caller, Depends(caller)]) -> Caller:
        if who.role != "admin":
            raise Problem(403, "Forbidden", f"role {who.role!r} may not manage subscriptions; use an admin key")
        if subscriptions is None:
            raise Problem(503, "Not available", "subscriptions need Kafka: set KAFKA_BOOTSTRAP_SERVERS")
        return who

    def scoped(who: Caller, agency: str | None) -> str | None:
        try:
            return narrow(who, agency)
        except PermissionError as e:
            raise Problem(403, "Forbidden", str(e)) from None

    def cursor_problem(e: ValueError) -> Problem:
        return Problem(422, "Bad parameter", f"`cursor`: {e}")

    def checked_cursor(cursor: str | None) -> str | None:
        """Refuse a foreign cursor before any response starts (an export cannot turn into a 422 midway)."""
        if cursor is not None:
            try:
                decode_cursor(cursor)
            except ValueError as e:
                raise cursor_problem(e) from None
        return cursor

    static = Path(__file__).resolve().parent / "static"
    app.mount("/static", StaticFiles(directory=static), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        """The supervisors' page: a plain static bundle calling this API with the user's key."""
        return FileResponse(static / "index.html", media_type="text/html; charset=utf-8")

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], responses={503: {"model": ProblemModel}})
    async def readyz(request: Request) -> Response:
        try:
            ok = await store.ping()
        except Exception as e:  # the store's own error says best what is wrong
            return problem(request, 503, "Not ready", f"the store does not answer: {e}")
        if not ok:
            return problem(request, 503, "Not ready", "the store does not answer")
        kafka = "not configured"
        if emitter is not None:
            failed = await asyncio.to_thread(emitter.reachable)
            if failed:
                return problem(request, 503, "Not ready", f"Kafka does not answer ({failed}); HTTP ingest needs it")
            kafka = "ok"
        return JSONResponse({"status": "ready", "store": "ok", "kafka": kafka})

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/overdue", tags=["supervision"], response_model=PageModel)
    async def overdue(
        who: Annotated[Caller, Depends(reader)],
        agency: str | None = None,
        item_code: str | None = None,
        handler_id: str | None = None,
        kind: Annotated[Literal["step", "case"] | None, Query(description="step or case; both if omitted")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: str | None = None,
    ) -> PageModel:
        """Steps and cases overdue now, longest overdue first, with the seconds past their deadline."""
        q = OverdueQuery(
            (kind,) if kind else (), scoped(who, agency), item_code, handler_id, limit, checked_cursor(cursor)
        )
        try:
            page = await store.overdue(q, int(time.time()))
        except ValueError as e:
            raise cursor_problem(e) from None
        return PageModel(items=page.items, next_cursor=page.next_cursor)

    def record_query(who: Caller, kind: list[str] | None, agency: str | None, item_code: str | None,
                     handler_id: str | None, case_id: str | None, since: str | None, until: str | None,
                     limit: int, cursor: str | None) -> RecordQuery:  # fmt: skip
        bad = sorted(set(kind or ()) - set(RECORD_KINDS))
        if bad:
            raise Problem(422, "Bad parameter", f"`kind` {bad} unknown; use {', '.join(RECORD_KINDS)}")
        return RecordQuery(
            tuple(kind or ()), scoped(who, agency), item_code, handler_id, case_id,
            _instant(since, "since"), _instant(until, "until"), limit, checked_cursor(cursor),
        )  # fmt: skip

    @app.get("/v1/records", tags=["supervision"], response_model=PageModel)
    async def records(
        who: Annotated[Caller, Depends(reader)],
        kind: Annotated[list[str] | None, Query()] = None,
        agency: str | None = None,
        item_code: str | None = None,
        handler_id: str | None = None,
        case_id: str | None = None,
        since: Annotated[str | None, Query(description="RFC 3339, inclusive")] = None,
        until: Annotated[str | None, Query(description="RFC 3339, exclusive")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: str | None = None,
        format: Literal["json", "csv"] = "json",
    ) -> Response:
        """Records, newest first; ``format=csv`` streams every matching record as a spreadsheet export."""
        q = record_query(who, kind, agency, item_code, handler_id, case_id, since, until, limit, cursor)
        if format == "csv":
            return StreamingResponse(_csv(store, q), media_type="text/csv; charset=utf-8",
                                     headers={"Content-Disposition": 'attachment; filename="records.csv"'})  # fmt: skip
        try:
            page = await store.search_records(q)
        except ValueError as e:
            raise cursor_problem(e) from None
        return JSONResponse(PageModel(items=page.items, next_cursor=page.next_cursor).model_dump())

    @app.get("/v1/cases/{case_id}", tags=["supervision"], responses={404: {"model": ProblemModel}})
    async def case(case_id: str, who: Annotated[Caller, Depends(reader)]) -> dict[str, Any]:
        """The case's timeline: each step's times, limit, deadline, counted seconds and status; its records."""
        doc = await store.get_case(case_id)
        if doc is None or not in_subtree(doc["agency_id"], who.scope):
            raise Problem(404, "Not found", f"no case {case_id!r} that this key may see")
        return doc

    async def cards(who: Caller, by: str, since: str, until: str, agency: str | None) -> list[Scorecard]:
        start, end = _instant(since, "since"), _instant(until, "until")
        assert start is not None and end is not None
        if end <= start:
            raise Problem(422, "Bad parameter", "`until` must come after `since`")
        out = []
        for c in await store.scorecard(by, Period(start, end, scoped(who, agency))):
            rate = c["steps_on_time"] / c["steps_completed"] if c["steps_completed"] else None
            colour = colour_for(c["points"], bands)
            out.append(Scorecard(**c, on_time_rate=rate, colour=colour))  # type: ignore[arg-type]
        return out

    @app.get("/v1/scorecards/agencies", tags=["scorecards"], response_model=list[Scorecard])
    async def agency_cards(
        who: Annotated[Caller, Depends(reader)], since: str, until: str, agency: str | None = None
    ) -> list[Scorecard]:
        """Per agency: penalty points, records by kind, on-time rate and the five-colour index for the period."""
        return await cards(who, "agency", since, until, agency)

    @app.get("/v1/scorecards/handlers", tags=["scorecards"], response_model=list[Scorecard])
    async def handler_cards(
        who: Annotated[Caller, Depends(reader)], since: str, until: str, agency: str | None = None
    ) -> list[Scorecard]:
        """Per official (handler), as for agencies."""
        return await cards(who, "handler", since, until, agency)

    @app.get("/v1/stats/daily", tags=["scorecards"])
    async def daily(
        who: Annotated[Caller, Depends(reader)], since: str, until: str, agency: str | None = None
    ) -> list[dict[str, Any]]:
        """Records per local day and kind, for charts."""
        start, end = _instant(since, "since"), _instant(until, "until")
        assert start is not None and end is not None
        return await store.daily(Period(start, end, scoped(who, agency)), int(utc_offset_hours * 3600))

    @app.get(
        "/v1/alerts/stream",
        tags=["alerts"],
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}, 503: {"model": ProblemModel}},
    )
    async def alert_stream(
        request: Request,
        who: Annotated[Caller, Depends(reader)],
        kind: Annotated[list[str] | None, Query(description="record kinds; repeat for several")] = None,
        agency: Annotated[str | None, Query(description="agency subtree")] = None,
        item_code: str | None = None,
        last_event_id: Annotated[str | None, Header(description="resume after this event id")] = None,
    ) -> Response:
        """Records as they are raised, as server-sent events (`event: record`, the record as JSON in `data`).

        Each event's `id` is the stream position after it; reconnect with `Last-Event-ID` (browsers do so
        by themselves) to resume exactly there: no record missed, none twice.  Without it the stream starts
        now.  Same filters and scopes as `/v1/records`; a comment line every 15 s keeps proxies open."""
        if feed is None:
            raise Problem(503, "Not available", "the alert stream needs Kafka: set KAFKA_BOOTSTRAP_SERVERS")
        kinds = set(kind or ())
        unknown = kinds - set(RECORD_KINDS)
        if unknown:
            raise Problem(422, "Bad parameter", f"`kind` {sorted(unknown)} unknown; use one of {list(RECORD_KINDS)}")
        scope = scoped(who, agency)
        try:
            resume = decode_position(last_event_id) if last_event_id else None
        except ValueError as e:
            raise Problem(400, "Bad header", str(e)) from None

        def wanted(r: dict[str, Any]) -> bool:
            return (
                (not kinds or r.get("kind") in kinds)
                and in_subtree(r.get("agency_id", ""), scope)
                and (item_code is None or r.get("item_code") == item_code)
            )

        async def events() -> AsyncIterator[bytes]:
            sent: str | None = None
            last_beat = 0.0
            async for position, record in feed.follow(resume):
                if record is not None:
                    if wanted(record):
                        sent, last_beat = position, time.monotonic()
                        yield b"id: " + position.encode() + b"\nevent: record\ndata: " + orjson.dumps(record) + b"\n\n"
                    continue
                if sent is None or time.monotonic() - last_beat >= heartbeat_seconds:
                    # A comment keeps proxies from closing the connection; an id-only message (it dispatches
                    # no event) moves the client's resume point, first to where this stream starts, later
                    # past records it was not sent.
                    beat = b": keep-alive\n"
                    if position != sent:
                        beat, sent = beat + b"id: " + position.encode() + b"\n", position
                    yield beat + b"\n"
                    last_beat = time.monotonic()

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    def visible(who: Caller, sub: Subscription) -> bool:
        return who.scope is None or (sub.agency is not None and in_subtree(sub.agency, who.scope))

    async def one_subscription(who: Caller, sub_id: str) -> Subscription:
        found = (await asyncio.to_thread(subscriptions.all)).get(sub_id)
        if found is None or not visible(who, found):
            raise Problem(404, "Not found", f"no subscription {sub_id!r} that this key may see")
        sub: Subscription = found
        return sub

    admin_errors: dict[int | str, dict[str, Any]] = {404: {"model": ProblemModel}, 503: {"model": ProblemModel}}

    @app.post(
        "/v1/subscriptions",
        tags=["subscriptions"],
        status_code=201,
        response_model=SubscriptionCreated,
        responses={503: {"model": ProblemModel}},
    )
    async def subscribe(who: Annotated[Caller, Depends(admin)], body: SubscriptionIn) -> SubscriptionCreated:
        """Deliver every matching record raised from now on to a webhook.

        Each delivery is a POST of the record as JSON with `Idempotency-Key: <record id>`,
        `X-Approval-Timestamp: <unix seconds>` and `X-Approval-Signature: sha256=<hex>`, the HMAC-SHA256 of
        `"<timestamp>." + body` keyed by the secret.  Any 2xx accepts it; anything else is retried with
        exponential backoff and jitter, then dead-lettered.  The secret is returned here only."""
        bad = sorted(set(body.kinds) - set(RECORD_KINDS))
        if bad:
            raise Problem(422, "Bad parameter", f"`kinds` {bad} unknown; use {', '.join(RECORD_KINDS)}")
        if body.url.scheme not in ("http", "https"):
            raise Problem(422, "Bad parameter", f"`url` {str(body.url)!r}: use an http or https URL")
        sub = Subscription(
            id=new_id(), url=str(body.url), agency=scoped(who, body.agency), kinds=body.kinds, items=body.items,
            max_attempts=body.max_attempts, description=body.description, secret=body.secret or new_secret(),
            created_at=now_text(), created_by=who.name,
        )  # fmt: skip
        sub = await asyncio.to_thread(subscriptions.create, sub)
        return SubscriptionCreated(**sub.public(), secret=sub.secret)

    @app.get(
        "/v1/subscriptions",
        tags=["subscriptions"],
        response_model=list[SubscriptionOut],
        responses={503: {"model": ProblemModel}},
    )
    async def list_subscriptions(who: Annotated[Caller, Depends(admin)]) -> list[SubscriptionOut]:
        """Subscriptions this key may see (within its scope), oldest first; secrets are never shown."""
        subs = await asyncio.to_thread(subscriptions.all)
        mine = sorted((s for s in subs.values() if visible(who, s)), key=lambda s: (s.created_at, s.id))
        return [SubscriptionOut(**s.public()) for s in mine]

    @app.get(
        "/v1/subscriptions/{sub_id}", tags=["subscriptions"], response_model=SubscriptionOut, responses=admin_errors
    )
    async def get_subscription(sub_id: str, who: Annotated[Caller, Depends(admin)]) -> SubscriptionOut:
        return SubscriptionOut(**(await one_subscription(who, sub_id)).public())

    @app.delete("/v1/subscriptions/{sub_id}", tags=["subscriptions"], status_code=204, responses=admin_errors)
    async def unsubscribe(sub_id: str, who: Annotated[Caller, Depends(admin)]) -> Response:
        """Stop deliveries; a record in flight may still arrive.  The delivery log is kept."""
        await one_subscription(who, sub_id)
        await asyncio.to_thread(subscriptions.delete, sub_id)
        return Response(status_code=204)

    @app.get(
        "/v1/subscriptions/{sub_id}/deliveries", tags=["subscriptions"], response_model=PageModel,
        responses=admin_errors,
    )  # fmt: skip
    async def deliveries(
        sub_id: str,
        who: Annotated[Caller, Depends(admin)],
        status: Literal["delivered", "dead"] | None = None,
        record_id: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: str | None = None,
    ) -> PageModel:
        """The delivery log, newest outcome first: per record its status, attempts (each with time, HTTP
        status, latency and error), last HTTP status and latency."""
        await one_subscription(who, sub_id)
        q = DeliveryQuery(sub_id, status, record_id, limit, checked_cursor(cursor))
        try:
            page = await store.search_deliveries(q)
        except ValueError as e:
            raise cursor_problem(e) from None
        return PageModel(items=page.items, next_cursor=page.next_cursor)

    @app.post("/v1/events", tags=["ingest"], response_model=list[Sent], responses={503: {"model": ProblemModel}})
    async def ingest(
        who: Annotated[Caller, Depends(caller)],
        events: Annotated[
            list[Any], Body(max_length=1000, description="Events as in the contract, one JSON object each")
        ],
    ) -> list[Sent]:
        """For agency systems that cannot speak Kafka: each event validated, keyed by case, sent and acknowledged."""
        if who.role not in ("ingest", "admin"):
            raise Problem(403, "Forbidden", f"role {who.role!r} may not send events; use an ingest key")
        if emitter is None:
            raise Problem(503, "Ingest unavailable", "this API has no Kafka (set KAFKA_BOOTSTRAP_SERVERS)")
        results: list[Sent | None] = [None] * len(events)
        send, where = [], []
        for i, obj in enumerate(events):
            agency = obj.get("agency_id") if isinstance(obj, dict) else None
            if isinstance(agency, str) and not in_subtree(agency, who.scope):
                why = f"agency {agency!r} is outside this key's scope {who.scope!r}"
                results[i] = Sent(index=i, event_id=obj.get("event_id"), ok=False, code="out_of_scope", error=why)
            else:
                send.append(obj)
                where.append(i)
        for sent in await asyncio.to_thread(emitter.send_many, send):
            i = where[sent.index]
            results[i] = dataclasses.replace(sent, index=i)
        return [r for r in results if r is not None]

    return app


CSV_COLUMNS = ("id", "kind", "case_id", "step", "at", "item_code", "agency_id", "handler_id", "points")


async def _csv(store: Store, q: RecordQuery) -> AsyncIterator[bytes]:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    n = 0
    async for r in store.export_records(q):
        writer.writerow([r.get(c) for c in CSV_COLUMNS])
        n += 1
        if n % 1000 == 0:
            yield buf.getvalue().encode()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode()
