"""The live alert stream: records as they are raised, as server-sent events, resumable."""

import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query
from fastapi.responses import Response, StreamingResponse

from api.deps import Reader, Svc, kinds, scoped
from api.problems import BadHeader, ProblemModel
from rules.agency import in_subtree
from rules.errors import Unavailable
from streams.alerts import decode_position

router = APIRouter(tags=["alerts"])


@router.get(
    "/v1/alerts/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, 503: {"model": ProblemModel}},
)
async def alert_stream(
    who: Reader,
    s: Svc,
    kind: Annotated[list[str] | None, Query(description="record kinds; repeat for several")] = None,
    agency: Annotated[str | None, Query(description="agency subtree")] = None,
    item_code: str | None = None,
    last_event_id: Annotated[str | None, Header(description="resume after this event id")] = None,
) -> Response:
    """Records as they are raised, as server-sent events (`event: record`, the record as JSON in `data`).

    Each event's `id` is the stream position after it; reconnect with `Last-Event-ID` (browsers do so
    by themselves) to resume exactly there: no record missed, none twice.  Without it the stream starts
    now.  Same filters and scopes as `/v1/records`; a comment line every 15 s keeps proxies open."""
    if s.feed is None:
        raise Unavailable("the alert stream needs Kafka: set KAFKA_BOOTSTRAP_SERVERS")
    wanted_kinds = set(kinds(kind))
    scope = scoped(who, agency)
    try:
        resume = decode_position(last_event_id) if last_event_id else None
    except ValueError as e:
        raise BadHeader(str(e)) from None

    def wanted(r: dict[str, Any]) -> bool:
        return (
            (not wanted_kinds or r.get("kind") in wanted_kinds)
            and in_subtree(r.get("agency_id", ""), scope)
            and (item_code is None or r.get("item_code") == item_code)
        )

    async def events() -> AsyncIterator[bytes]:
        sent: str | None = None
        last_beat = 0.0
        async for position, record in s.feed.follow(resume):
            if record is not None:
                if wanted(record):
                    sent, last_beat = position, time.monotonic()
                    yield b"id: " + position.encode() + b"\nevent: record\ndata: " + orjson.dumps(record) + b"\n\n"
                continue
            if sent is None or time.monotonic() - last_beat >= s.heartbeat_seconds:
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
