"""Webhook delivery: each matching record POSTed to each subscriber, signed, retried, and logged.

Why one records consumer per subscription rather than one agent fanning out:
a subscriber that is slow or down must hold back nobody, yet every record it
asked for must reach it once it is back.  A shared consumer can offer only one
of those — wait for the slowest subscriber, or buffer for it without bound and
lose the buffer in a crash.  So each subscription keeps its own position in
the records topic (a Kafka consumer group of its own, ``<app>-webhook-<id>``,
assigned every partition, committed after each record's outcome is logged):
a subscriber that is down simply lags, as far back as the topic's retention,
and a crash repeats at most the record in flight — which the receiver
deduplicates by its ``Idempotency-Key``, the record id.

Who delivers which subscription is Faust's job: the deliverers form one
consumer group over the subscriptions topic, whose partitions — and the table
co-partitioned with it, which remembers every subscription across restarts —
are shared among them; each deliverer runs the subscriptions of the partitions
it owns, starting them when recovery completes and stopping them on
revocation, as the worker does with its timers.

Within one subscription, records go out one at a time in topic order, each
retried with exponential backoff and jitter (a ``Retry-After`` is honoured up
to the cap) until it is accepted (any 2xx) or its attempts run out; then it is
dead-lettered and the next record goes.  Every outcome goes to the deliveries
topic (indexed by the sink: the queryable delivery log) before the position
moves past it.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import faust
import orjson
from faust.types import TP

from rules.errors import Unavailable
from streams.config import Kafka, Topics, Webhooks
from streams.faust_app import RAW, new_app
from streams.metrics import PipelineMetrics
from streams.offsets import start_uncommitted_at_earliest
from streams.recovery_watch import watch_recovery
from streams.retry import RetryPolicy, until_done
from streams.subscriptions import Subscription
from streams.webhook_delivery import DeliveryConfig, SubscriptionDelivery
from streams.webhook_guard import GuardedResolver, networks
from streams.webhook_running import Running, WebhookLag
from streams.webhook_secrets import SecretBox

log = logging.getLogger("approval_monitor.webhooks")
PUBLISH_RETRY = RetryPolicy(backoff=0.5, cap=30.0)


def create_webhook_app(
    topics: Topics, kafka: Kafka, webhooks: Webhooks, metrics: PipelineMetrics | None = None
) -> faust.App:
    """The deliverer's Faust app; start it with ``faust.Worker``."""
    if not webhooks.secret_key:
        raise Unavailable(
            "APPROVAL_MONITOR_WEBHOOK_SECRET_KEY is not set: the deliverer needs it to open the subscriptions' "
            "signing secrets; give it the key the API seals them with (`approval-monitor keys webhook-key` makes one)"
        )
    metrics = metrics or PipelineMetrics()
    app = new_app(f"{topics.app_id}-webhooks", kafka)
    source = app.topic(topics.subscriptions, **RAW)
    outputs = {t: app.topic(t, **RAW) for t in (topics.deliveries, topics.dead_letter)}
    table = app.Table(
        "subscriptions", default=None, partitions=topics.subscription_partitions, key_type=bytes, value_type=bytes
    )
    start_uncommitted_at_earliest(app, [topics.subscriptions])
    watch_recovery(app)
    config = DeliveryConfig(
        bootstrap=kafka.bootstrap,
        records_topic=topics.records,
        deliveries_topic=topics.deliveries,
        dead_letter_topic=topics.dead_letter,
        group_prefix=f"{topics.app_id}-webhook",
        policy=RetryPolicy(
            backoff=webhooks.backoff_seconds, cap=webhooks.backoff_max_seconds, max_attempts=webhooks.max_attempts
        ),
        timeout=webhooks.timeout_seconds,
        box=SecretBox(webhooks.secret_key),
        allow=networks(webhooks.allow_networks),
    )
    sessions: list[aiohttp.ClientSession] = []

    async def publish(topic: str, key: str, value: dict[str, Any]) -> None:
        """Send and wait for Kafka's acknowledgement, retrying: an outcome is never lost."""

        async def send() -> None:
            await (await outputs[topic].send(key=key.encode(), value=orjson.dumps(value)))

        await until_done(f"publishing to {topic}", send, PUBLISH_RETRY, log, metrics.webhook_publish_failures.inc)

    def make(sub: Subscription) -> SubscriptionDelivery:
        if not sessions:
            # Created in the running loop and shared; no pool limit, as each subscription has one POST in flight
            # at most — a shared limit would let slow subscribers queue the others.
            # Every host is resolved by the guard: one that now points inside the monitor's network is not posted to.
            connector = aiohttp.TCPConnector(limit=0, resolver=GuardedResolver(config.allow))
            sessions.append(aiohttp.ClientSession(connector=connector))
        return SubscriptionDelivery(sub, config, sessions[0], publish, metrics)

    running = Running(make)
    metrics.registry.register(WebhookLag(running))
    metrics.webhook_subscriptions.set_function(lambda: len(running.loops))

    @app.agent(source)
    async def follow(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            msg = event.message
            if msg.key is None:
                continue
            if msg.value is None:
                if msg.key in table:
                    del table[msg.key]
                await running.stop([msg.key.decode()])
                continue
            sub = Subscription.model_validate_json(msg.value)
            table[msg.key] = orjson.dumps({"partition": msg.partition, "subscription": sub.model_dump(mode="json")})
            running.start(sub, msg.partition)

    @table.on_recover
    async def resume() -> None:
        """Recovery is complete: run every subscription of the partitions this deliverer now owns."""
        active = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topics.subscriptions}
        await running.stop_partitions({p for p, *_rest in running.loops.values() if p not in active})
        for _key, stored in list(table.data.items()):
            data = orjson.loads(stored)
            if data["partition"] in active:
                running.start(Subscription.model_validate(data["subscription"]), data["partition"])
        log.info("subscriptions resumed: %d on partitions %s", len(running.loops), sorted(active))

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(sender: Any, revoked: set[TP], **kwargs: Any) -> None:
        await running.stop_partitions({tp.partition for tp in revoked if tp.topic == topics.subscriptions})

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def on_shutdown(sender: Any, **kwargs: Any) -> None:
        await running.stop(list(running.loops))
        for session in sessions:
            await session.close()

    return app
