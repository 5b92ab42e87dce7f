"""Prometheus metrics of the worker, the sink and the deliverer, served on ``APPROVAL_MONITOR_METRICS_PORT``.

Each process has its own registry (a test may run several apps in one
process); the API keeps its own at ``/metrics``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from rules.coverage import coverage
from rules.pack import RulePack

LATENESS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)


class ConsumerLag(Collector):
    """Messages on each partition not yet committed by this process's consumer, from Faust's monitor."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "approval_consumer_lag", "Messages not yet committed, per topic partition", labels=["topic", "partition"]
        )
        monitor = getattr(self.app, "monitor", None)
        ends = getattr(monitor, "tp_end_offsets", None) or {}
        committed = getattr(monitor, "tp_committed_offsets", None) or {}
        for tp, end in sorted(ends.items()):
            family.add_metric([tp.topic, str(tp.partition)], max(0, end - committed.get(tp, 0)))
        yield family


def _days_left(pack: RulePack, name: str) -> float:
    return next(float(c.days_left or 0) for c in coverage(pack, int(time.time())) if c.calendar == name)


class PipelineMetrics:
    def watch_calendars(self, pack: RulePack) -> None:
        """Each calendar's days of holiday lists left, computed when scraped (rules.coverage)."""
        for c in coverage(pack, int(time.time())):
            if c.last_day is not None:
                self.calendar_days_left.labels(c.calendar).set_function(functools.partial(_days_left, pack, c.calendar))

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter("approval_events", "Events read from the events topic", registry=r)
        self.rejected = Counter("approval_events_rejected", "Events rejected, by reason code", ["code"], registry=r)
        self.records = Counter("approval_records", "Records raised, by kind", ["kind"], registry=r)
        self.lateness = Histogram(
            "approval_record_lateness_seconds",
            "How long after its instant plus the grace a timer's record was acknowledged by Kafka",
            buckets=LATENESS_BUCKETS,
            registry=r,
        )
        self.open_timers = Gauge("approval_open_timers", "Cases with a pending wake-up on this worker", registry=r)
        self.calendar_days_left = Gauge(
            "approval_calendar_days_left",
            "Days until the last day a calendar of the rule pack lists holidays for (negative once past; alert at 60)",
            ["calendar"],
            registry=r,
        )
        self.catching_up = Gauge(
            "approval_partitions_catching_up",
            "Events partitions read back up to their end offset at assignment; their timers wait until then",
            registry=r,
        )
        self.direct_reads = Counter(
            "approval_events_read_directly",
            "Events the consumer skipped or stalled on, read straight from Kafka and judged in order",
            registry=r,
        )
        self.internal_errors = Counter(
            "approval_internal_errors", "Events or timers the engine failed on (a bug: see the log)", registry=r
        )
        self.sink_written = Counter("approval_sink_written", "Documents written to the store", ["what"], registry=r)
        self.sink_failures = Counter("approval_sink_failures", "Store writes that failed and were retried", registry=r)
        self.webhook_attempts = Counter(
            "approval_webhook_attempts", "Webhook POSTs, by outcome (ok: a 2xx answer)", ["outcome"], registry=r
        )
        self.webhook_deliveries = Counter(
            "approval_webhook_deliveries", "Records handed to subscribers, by final status", ["status"], registry=r
        )
        self.webhook_latency = Histogram(
            "approval_webhook_latency_seconds", "How long one webhook POST took", buckets=LATENESS_BUCKETS, registry=r
        )
        self.webhook_publish_failures = Counter(
            "approval_webhook_publish_failures", "Delivery outcomes Kafka did not take at once (retried)", registry=r
        )
        self.webhook_subscriptions = Gauge(
            "approval_webhook_subscriptions", "Subscriptions this deliverer runs now", registry=r
        )

    def watch_lag(self, app: Any) -> None:
        self.registry.register(ConsumerLag(app))

    def serve(self, port: int) -> None:
        """Serve ``/metrics`` on ``port`` (0: not at all)."""
        if port:
            start_http_server(port, registry=self.registry)
