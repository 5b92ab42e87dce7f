"""Which subscriptions this deliverer runs now, and their lag as a Prometheus gauge."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from streams.subscriptions import Subscription
from streams.webhook_delivery import SubscriptionDelivery

log = logging.getLogger("approval_monitor.webhooks")


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
