"""HTTP ingest for agency systems that cannot speak Kafka: the same emitter as Kafka producers use.

The body is read by hand, up to a limit (413 above it), and parsed strictly (a lone
surrogate or broken JSON is a 400 for the whole body, before anything is sent); then
every event is judged at the door before any is published, and each answer says what
became of each event.  Refused events are kept on the rejected topic, with the key's
name and scope, as well as returned.
"""

import asyncio

import orjson
from fastapi import APIRouter, Request

from api.deps import Ingester, Svc
from api.problems import BadBody, ProblemModel
from rules.errors import TooLarge
from streams.emitter import Sent

router = APIRouter(tags=["ingest"])
MAX_EVENTS = 1000
BODY_SCHEMA = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "array",
                "maxItems": MAX_EVENTS,
                "items": {"type": "object", "description": "An event as in the contract"},
                "description": "Events as in the contract, one JSON object each",
            }
        }
    },
}


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it passes ``limit`` bytes (declared or streamed)."""
    declared = request.headers.get("content-length", "")
    too_big = TooLarge(
        f"the body is larger than {limit} bytes (APPROVAL_MONITOR_API_MAX_BODY_BYTES); send at most "
        f"{MAX_EVENTS} events of at most 64 KiB each per request, in several requests"
    )
    if declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/v1/events",
    response_model=list[Sent],
    responses={400: {"model": ProblemModel}, 413: {"model": ProblemModel}, 503: {"model": ProblemModel}},
    openapi_extra={"requestBody": BODY_SCHEMA},
)
async def ingest(who: Ingester, s: Svc, request: Request) -> list[Sent]:
    """For agency systems that cannot speak Kafka: each event judged at the door, keyed by case, sent and
    acknowledged; those refused are kept with the reason."""
    body = await read_body(request, s.max_body_bytes)
    try:
        events = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise BadBody(f"the body is not valid JSON ({e}); send a JSON array of event objects in UTF-8") from None
    if not isinstance(events, list):
        raise BadBody(f"the body must be a JSON array of events, got a JSON {type(events).__name__}; wrap it in [ ]")
    if len(events) > MAX_EVENTS:
        raise BadBody(f"the body holds {len(events)} events; send at most {MAX_EVENTS} per request")
    return await asyncio.to_thread(s.emitter.send_many, events, scope=who.scope, sender=who.name)
