"""HTTP ingest for agency systems that cannot speak Kafka: the same emitter as Kafka producers use."""

import asyncio
import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Body

from api.deps import Ingester, Svc
from api.problems import ProblemModel
from rules.agency import in_subtree
from streams.emitter import Sent

router = APIRouter(tags=["ingest"])


@router.post("/v1/events", response_model=list[Sent], responses={503: {"model": ProblemModel}})
async def ingest(
    who: Ingester,
    s: Svc,
    events: Annotated[list[Any], Body(max_length=1000, description="Events as in the contract, one JSON object each")],
) -> list[Sent]:
    """For agency systems that cannot speak Kafka: each event validated, keyed by case, sent and acknowledged."""
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
    for sent in await asyncio.to_thread(s.emitter.send_many, send):
        i = where[sent.index]
        results[i] = dataclasses.replace(sent, index=i)
    return [r for r in results if r is not None]
