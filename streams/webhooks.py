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

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import faust
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.types import TP
from kafka import KafkaConsumer
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from approval_monitor.settings import Settings, subscription_partitions
from rules.timeutil import format_instant
from streams.faust_app import RAW, new_app, run_app
from streams.metrics import PipelineMetrics
from streams.offsets import start_uncommitted_at_earliest
from streams.retry import RetryPolicy, until_done
from streams.subscriptions import Subscription, matches

log = logging.getLogger("approval_monitor.webhooks")

SIGNATURE_HEADER = "X-Approval-Signature"
TIMESTAMP_HEADER = "X-Approval-Timestamp"
SUBSCRIPTION_HEADER = "X-Approval-Subscription"
IDEMPOTENCY_HEADER = "Idempotency-Key"
PUBLISH_RETRY = RetryPolicy(backoff=0.5, cap=30.0)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=`` and the hex HMAC-SHA256, keyed by the subscription's secret, of ``"<timestamp>." + body``.

    The timestamp is signed with the body so that a captured request cannot be
    replayed later: receivers reject timestamps far from their clock."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str, timestamp: str, signed: str, body: bytes, tolerance: int = 300, now: float | None = None
) -> bool:
    """What a receiver does: recompute the signature, compare in constant time, bound the clock skew."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, ts, body), signed)


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: the backoff decides


def _partitions(bootstrap: str, topic: str) -> set[int]:
    """The topic's partitions from fresh metadata (aiokafka's consumer only knows topics it fetched for)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        return set(consumer.partitions_for_topic(topic) or ())
    finally:
        consumer.close()


def _decode(m: Any) -> dict[str, Any] | None:
    """A record, or None for a tombstone or a message that is not one (logged; it stays on the topic)."""
    if m.value is None:
        return None
    try:
        record = orjson.loads(m.value)
    except orjson.JSONDecodeError as e:
        log.error("records topic %s[%d]@%d is not JSON (%s); not delivered", m.topic, m.partition, m.offset, e,
                  extra={"topic": m.topic, "partition": m.partition, "offset": m.offset})  # fmt: skip
        return None
    return record if isinstance(record, dict) else None


Publish = Callable[[str, str, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    bootstrap: str
    records_topic: str
    deliveries_topic: str
    dead_letter_topic: str
    group_prefix: str
    policy: RetryPolicy
    timeout: float


class SubscriptionDelivery:
    """One subscription's loop: its own position in the records topic, one record at a time."""

    def __init__(
        self,
        sub: Subscription,
        config: DeliveryConfig,
        session: aiohttp.ClientSession,
        publish: Publish,
        metrics: PipelineMetrics,
    ) -> None:
        self.sub = sub
        self.config = config
        self.session = session
        self.publish = publish
        self.metrics = metrics
        self.consumer: AIOKafkaConsumer | None = None
        self.done: dict[TopicPartition, int] = {}  # next offset per partition

    def lag(self) -> int:
        """Records not yet handled, from the consumer's last view of each partition's end."""
        c = self.consumer
        if c is None:
            return 0
        total = 0
        for tp, done in self.done.items():
            high = c.highwater(tp)
            if high is not None:
                total += max(0, high - done)
        return total

    async def run(self) -> None:
        """Deliver until cancelled; an unexpected failure restarts the loop from the committed position."""
        while True:
            try:
                await self._run()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("delivery loop of subscription %s failed; restarting in 5s", self.sub.id)
                await asyncio.sleep(5)

    async def _run(self) -> None:
        cfg = self.config
        consumer = AIOKafkaConsumer(
            bootstrap_servers=cfg.bootstrap,
            group_id=f"{cfg.group_prefix}-{self.sub.id}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",  # positions before the topic's retention: the oldest kept
            client_id=f"approval-webhook-{self.sub.id}",
        )
        await consumer.start()
        self.consumer = consumer
        try:
            await self._assign(consumer)
            while True:
                batch = await consumer.getmany(timeout_ms=1000, max_records=200)
                for tp, messages in batch.items():
                    passed: int | None = None  # offset after records this subscription did not ask for
                    for m in messages:
                        record = _decode(m)
                        if record is not None and m.value is not None and matches(self.sub, record):
                            await self.deliver(record, m.value)
                            await consumer.commit({tp: m.offset + 1})
                            passed = None
                        else:
                            passed = m.offset + 1
                        self.done[tp] = m.offset + 1
                    if passed is not None:
                        await consumer.commit({tp: passed})
        finally:
            self.consumer = None
            await consumer.stop()

    async def _assign(self, consumer: AIOKafkaConsumer) -> None:
        topic = self.config.records_topic
        deadline = time.monotonic() + 60
        while not (parts := await asyncio.to_thread(_partitions, self.config.bootstrap, topic)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the records topic {topic!r} does not exist; start a worker first")
            await asyncio.sleep(1)
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        for tp in tps:
            committed = await consumer.committed(tp)
            if committed is None:  # first run: where the subscription was created, or all of a newer partition
                start = self.sub.start.get(tp.partition)
                if start is None:
                    await consumer.seek_to_beginning(tp)
                else:
                    consumer.seek(tp, start)
            self.done[tp] = await consumer.position(tp)

    async def deliver(self, record: dict[str, Any], body: bytes) -> dict[str, Any]:
        """POST ``body`` until accepted or out of attempts; publish the outcome (and the dead letter)."""
        sub, cfg = self.sub, self.config
        limit = sub.max_attempts or cfg.policy.max_attempts or 1
        attempts: list[dict[str, Any]] = []
        ok = False
        for n in range(1, limit + 1):
            ts = int(time.time())
            headers = {
                "Content-Type": "application/json",
                IDEMPOTENCY_HEADER: str(record.get("id")),
                SUBSCRIPTION_HEADER: sub.id,
                TIMESTAMP_HEADER: str(ts),
                SIGNATURE_HEADER: signature(sub.secret, ts, body),
                "User-Agent": "approval-monitor-webhooks/0.1",
            }
            status: int | None = None
            error: str | None = None
            retry_after: float | None = None
            started = time.perf_counter()
            try:
                async with self.session.post(
                    sub.url,
                    data=body,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=cfg.timeout),
                    allow_redirects=False,
                ) as resp:
                    status = resp.status
                    retry_after = _retry_after(resp.headers.get("Retry-After"))
            except (aiohttp.ClientError, TimeoutError) as e:
                error = f"{type(e).__name__}: {e}".rstrip(": ") if str(e) else type(e).__name__
            latency = time.perf_counter() - started
            ok = status is not None and 200 <= status < 300
            if status is not None and not ok:
                error = f"HTTP {status}"
            attempts.append({"at": format_instant(ts), "http_status": status, "latency_ms": round(latency * 1000, 1),
                             "error": error})  # fmt: skip
            self.metrics.webhook_attempts.labels("ok" if ok else "failed").inc()
            self.metrics.webhook_latency.observe(latency)
            if ok:
                break
            if n < limit:
                await asyncio.sleep(cfg.policy.delay(n, retry_after))
        last = attempts[-1]
        entry = {
            "id": f"{sub.id}:{record.get('id')}",
            "subscription_id": sub.id,
            "record_id": record.get("id"),
            "kind": record.get("kind"),
            "case_id": record.get("case_id"),
            "agency_id": record.get("agency_id"),
            "status": "delivered" if ok else "dead",
            "attempts": len(attempts),
            "http_status": last["http_status"],
            "latency_ms": last["latency_ms"],
            "error": last["error"],
            "first_attempt_at": attempts[0]["at"],
            "at": last["at"],
            "attempt_log": attempts,
        }
        if not ok:
            log.warning(
                "subscription %s: record %s dead-lettered after %d attempts (%s)",
                sub.id, record.get("id"), len(attempts), last["error"],
                extra={"subscription": sub.id, "record_id": record.get("id"), "attempts": len(attempts),
                       "error": last["error"], "url": sub.url},
            )  # fmt: skip
            dead = {"subscription_id": sub.id, "url": sub.url, "record": record, "attempts": attempts, "at": last["at"]}
            await self.publish(cfg.dead_letter_topic, sub.id, dead)
        self.metrics.webhook_deliveries.labels(entry["status"]).inc()
        await self.publish(cfg.deliveries_topic, sub.id, entry)
        return entry


class Running:
    """The subscriptions this deliverer runs now: id -> (partition, version, loop, task)."""

    def __init__(self, make: Callable[[Subscription], SubscriptionDelivery]) -> None:
        self.make = make
        self.loops: dict[str, tuple[int, Subscription, SubscriptionDelivery, asyncio.Task[None]]] = {}

    def start(self, sub: Subscription, partition: int) -> None:
        current = self.loops.get(sub.id)
        if current is not None and current[1] == sub:
            return
        if current is not None:
            current[3].cancel()  # a new version: the new loop resumes from the committed position
        loop = self.make(sub)
        task = asyncio.get_running_loop().create_task(loop.run(), name=f"webhook-{sub.id}")
        self.loops[sub.id] = (partition, sub, loop, task)
        log.info("delivering subscription %s to %s", sub.id, sub.url, extra={"subscription": sub.id, "url": sub.url})

    async def stop(self, ids: list[str]) -> None:
        tasks = []
        for sub_id in ids:
            found = self.loops.pop(sub_id, None)
            if found is not None:
                found[3].cancel()
                tasks.append(found[3])
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if ids:
            log.info("stopped delivering subscriptions %s", sorted(ids))

    async def stop_partitions(self, partitions: set[int]) -> None:
        await self.stop([i for i, (p, *_rest) in self.loops.items() if p in partitions])

    def __iter__(self) -> Iterator[tuple[str, SubscriptionDelivery]]:
        return ((i, v[2]) for i, v in list(self.loops.items()))


class WebhookLag(Collector):
    def __init__(self, running: Running) -> None:
        self.running = running

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "approval_webhook_lag", "Records a subscription has not handled yet", labels=["subscription"]
        )
        for sub_id, loop in self.running:
            family.add_metric([sub_id], loop.lag())
        yield family


def create_webhook_app(settings: Settings, bootstrap: str, metrics: PipelineMetrics | None = None) -> faust.App:
    """The deliverer's Faust app; start it with ``faust.Worker``."""
    metrics = metrics or PipelineMetrics()
    app = new_app(f"{settings.app_id}-webhooks", settings, bootstrap)
    source = app.topic(settings.subscriptions_topic, **RAW)
    outputs = {t: app.topic(t, **RAW) for t in (settings.deliveries_topic, settings.dead_letter_topic)}
    table = app.Table(
        "subscriptions", default=None, partitions=subscription_partitions(settings), key_type=bytes, value_type=bytes
    )
    start_uncommitted_at_earliest(app, [settings.subscriptions_topic])
    config = DeliveryConfig(
        bootstrap=bootstrap,
        records_topic=settings.records_topic,
        deliveries_topic=settings.deliveries_topic,
        dead_letter_topic=settings.dead_letter_topic,
        group_prefix=f"{settings.app_id}-webhook",
        policy=RetryPolicy(
            backoff=settings.webhook_backoff_seconds,
            cap=settings.webhook_backoff_max_seconds,
            max_attempts=settings.webhook_max_attempts,
        ),
        timeout=settings.webhook_timeout_seconds,
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
            sessions.append(aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)))
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

    @table.on_recover  # type: ignore[misc]
    async def resume() -> None:
        """Recovery is complete: run every subscription of the partitions this deliverer now owns."""
        active = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == settings.subscriptions_topic}
        await running.stop_partitions({p for p, *_rest in running.loops.values() if p not in active})
        for _key, stored in list(table.data.items()):
            data = orjson.loads(stored)
            if data["partition"] in active:
                running.start(Subscription.model_validate(data["subscription"]), data["partition"])
        log.info("subscriptions resumed: %d on partitions %s", len(running.loops), sorted(active))

    @app.on_partitions_revoked.connect  # type: ignore[misc]
    async def on_revoked(sender: Any, revoked: set[TP], **kwargs: Any) -> None:
        await running.stop_partitions({tp.partition for tp in revoked if tp.topic == settings.subscriptions_topic})

    @app.on_before_shutdown.connect  # type: ignore[misc]
    async def on_shutdown(sender: Any, **kwargs: Any) -> None:
        await running.stop(list(running.loops))
        for session in sessions:
            await session.close()

    return app


def run_webhooks(settings: Settings, bootstrap: str, loglevel: str = "warning") -> None:
    from streams.topics import ensure_topics

    ensure_topics(settings, bootstrap)
    metrics = PipelineMetrics()
    app = create_webhook_app(settings, bootstrap, metrics)
    run_app(app, settings, metrics, loglevel)
