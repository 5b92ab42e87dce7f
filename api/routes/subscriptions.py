"""Webhook subscriptions (admin keys, within their scope) and each one's delivery log."""

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.auth import Caller
from api.deps import Admin, Services, Svc, checked_cursor, kinds, scoped
from api.models import PageModel, SubscriptionCreated, SubscriptionIn, SubscriptionOut
from api.problems import ProblemModel
from rules.agency import in_subtree
from rules.errors import NotFound, Unavailable
from store.base import DeliveryQuery
from streams.subscriptions import Subscription, new_id, new_secret, now_text
from streams.webhook_guard import check_url

router = APIRouter(tags=["subscriptions"])
ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": ProblemModel}, 503: {"model": ProblemModel}}


def _visible(who: Caller, sub: Subscription) -> bool:
    return who.scope is None or (sub.agency is not None and in_subtree(sub.agency, who.scope))


async def _one(s: Services, who: Caller, sub_id: str) -> Subscription:
    found = (await asyncio.to_thread(s.subscriptions.all)).get(sub_id)
    if found is None or not _visible(who, found):
        raise NotFound(f"no subscription {sub_id!r} that this key may see")
    sub: Subscription = found
    return sub


@router.post(
    "/v1/subscriptions", status_code=201, response_model=SubscriptionCreated, responses={503: {"model": ProblemModel}}
)
async def subscribe(who: Admin, s: Svc, body: SubscriptionIn) -> SubscriptionCreated:
    """Deliver every matching record raised from now on to a webhook.

    Each delivery is a POST of the record as JSON with `Idempotency-Key: <record id>`,
    `X-Approval-Timestamp: <unix seconds>` and `X-Approval-Signature: sha256=<hex>`, the HMAC-SHA256 of
    `"<timestamp>." + body` keyed by the secret.  Any 2xx accepts it; anything else is retried with
    exponential backoff and jitter, then dead-lettered.  The secret is returned here only."""
    kinds(body.kinds, "kinds")
    log_ = s.subscriptions
    if log_.box is None:
        raise Unavailable("subscriptions need APPROVAL_MONITOR_WEBHOOK_SECRET_KEY, to seal their secrets at rest")
    await asyncio.to_thread(check_url, str(body.url), log_.allow)  # never into the monitor's own network
    secret = body.secret or new_secret()
    sub = Subscription(
        id=new_id(), url=str(body.url), agency=scoped(who, body.agency), kinds=body.kinds, items=body.items,
        max_attempts=body.max_attempts, description=body.description, secret=log_.box.seal(secret),
        created_at=now_text(), created_by=who.name,
    )  # fmt: skip
    sub = await asyncio.to_thread(log_.create, sub)
    return SubscriptionCreated(**sub.public(), secret=secret)


@router.get("/v1/subscriptions", response_model=list[SubscriptionOut], responses={503: {"model": ProblemModel}})
async def list_subscriptions(who: Admin, s: Svc) -> list[SubscriptionOut]:
    """Subscriptions this key may see (within its scope), oldest first; secrets are never shown."""
    subs = await asyncio.to_thread(s.subscriptions.all)
    mine = sorted((x for x in subs.values() if _visible(who, x)), key=lambda x: (x.created_at, x.id))
    return [SubscriptionOut(**x.public()) for x in mine]


@router.get("/v1/subscriptions/{sub_id}", response_model=SubscriptionOut, responses=ERRORS)
async def get_subscription(sub_id: str, who: Admin, s: Svc) -> SubscriptionOut:
    return SubscriptionOut(**(await _one(s, who, sub_id)).public())


@router.delete("/v1/subscriptions/{sub_id}", status_code=204, responses=ERRORS)
async def unsubscribe(sub_id: str, who: Admin, s: Svc) -> Response:
    """Stop deliveries; a record in flight may still arrive.  The delivery log is kept."""
    await _one(s, who, sub_id)
    await asyncio.to_thread(s.subscriptions.delete, sub_id)
    return Response(status_code=204)


@router.get("/v1/subscriptions/{sub_id}/deliveries", response_model=PageModel, responses=ERRORS)
async def deliveries(
    sub_id: str,
    who: Admin,
    s: Svc,
    status: Literal["delivered", "dead"] | None = None,
    record_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> PageModel:
    """The delivery log, newest outcome first: per record its status, attempts (each with time, HTTP
    status, latency and error), last HTTP status and latency."""
    await _one(s, who, sub_id)
    page = await s.store.search_deliveries(DeliveryQuery(sub_id, status, record_id, limit, checked_cursor(cursor)))
    return PageModel(items=page.items, next_cursor=page.next_cursor)
