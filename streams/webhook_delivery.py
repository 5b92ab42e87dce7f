"""Delivering one subscription: its own position in the records topic, one record at a time, retried.

See ``streams.webhooks`` for why each subscription has its own consumer; this
module holds that loop (``SubscriptionDelivery``), the set of loops a
deliverer runs (``Running``) and their lag metric.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka import KafkaConsumer

from rules.errors import BadInput
from rules.timeutil import format_instant
from streams.metrics import PipelineMetrics
from streams.retry import RetryPolicy
from streams.subscriptions import Subscription, matches
from streams.webhook_guard import Network, refused_literal
from streams.webhook_secrets import SecretBox
from streams.webhook_signing import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    SUBSCRIPTION_HEADER,
    TIMESTAMP_HEADER,
    signature,
)

log = logging.getLogger("approval_monitor.webhooks")


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
    box: SecretBox
    allow: list[Network]


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
            status: int | None = None
            error: str | None = None
            retry_after: float | None = None
            started = time.perf_counter()
            try:
                secret = cfg.box.open(sub.secret, sub.id)
            except BadInput as e:  # another key: nothing is signed with a wrong secret; retried, then dead-lettered
                secret, error = None, str(e)
            why = refused_literal(sub.url, cfg.allow)
            if why is not None:
                error = f"not posted: {why}, inside the monitor's network"
            if error is not None or secret is None:
                attempts.append({"at": format_instant(ts), "http_status": None, "latency_ms": 0.0, "error": error})
                if n < limit:
                    await asyncio.sleep(cfg.policy.delay(n))
                continue
            headers = {
                "Content-Type": "application/json",
                IDEMPOTENCY_HEADER: str(record.get("id")),
                SUBSCRIPTION_HEADER: sub.id,
                TIMESTAMP_HEADER: str(ts),
                SIGNATURE_HEADER: signature(secret, ts, body),
                "User-Agent": "approval-monitor-webhooks/0.1",
            }
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
