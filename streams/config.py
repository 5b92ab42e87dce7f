"""What the pipeline's processes need to know, in small typed pieces that never read the environment.

The composition root (``approval_monitor.settings``) builds them from its one
``Settings``; tests and benchmarks build them directly.  Topic names are
defined here once, the names derived from the app id (table changelogs) too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Topics:
    """Every topic the pipeline reads or writes."""

    app_id: str = "approval-monitor"
    events: str = "approval.events"
    records: str = "approval.records"
    rejected: str = "approval.rejected"
    ticks: str = "approval.ticks"
    actions: str = "approval.actions"  # supervisors' and agencies' actions, written by the API only
    subscriptions: str = "approval.subscriptions"
    deliveries: str = "approval.webhooks.deliveries"
    dead_letter: str = "approval.webhooks.dead"
    partitions: int = 8
    # ``max.message.bytes`` of the rejected topic, and so the largest message the worker produces.
    rejected_max_bytes: int = 2_097_152
    # The events topic keeps its producers' timestamps as received_at instead of the broker's: only for a
    # trusted bridge that backfills an archive of reports with the instants they originally arrived.
    sender_timestamps: bool = False

    @property
    def cases_changelog(self) -> str:
        """The worker's case states (Faust's name for its table's changelog), compacted; the sink reads it."""
        return f"{self.app_id}-cases-changelog"

    @property
    def anchors(self) -> str:
        """The record trail's chain heads, published by the sink (``streams.trail``): append-only, kept forever."""
        return f"{self.app_id}-trail-anchors"

    @property
    def positions_changelog(self) -> str:
        """The worker's read positions per events partition (``streams.positions``), compacted."""
        return f"{self.app_id}-positions-changelog"

    @property
    def subscription_partitions(self) -> int:
        """Subscriptions are few: half as many partitions, which bounds how many deliverers share them."""
        return max(1, self.partitions // 2)


@dataclass(frozen=True, slots=True)
class Kafka:
    """Where Kafka is and how the pipeline's clients behave there."""

    bootstrap: str
    replication: int = 1
    session_timeout_seconds: float = 10.0
    state_dir: str = "var/faust"  # Faust's local files (RocksDB tables), a directory per application id


@dataclass(frozen=True, slots=True)
class IndexRules:
    """When an agency's five-colour index raises an alarm (``rules.indicators``)."""

    bands: tuple[float, ...] = (1, 3, 6, 10)  # points per 100 completed steps: green, blue, yellow, orange; red above
    min_steps: int = 20
    every_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class Pipeline:
    """How the worker judges."""

    grace_seconds: int = 2
    retain_days: float = 7.0
    batch_max: int = 500
    state_cache: int = 20_000
    table_store: str = "memory"  # or "rocksdb" (streams.local_tables)
    max_event_bytes: int = 65536
    anchor_seconds: float = 10.0  # how often the sink anchors the record trail's heads (streams.trail)
    sink_write_max: int = 10_000  # messages queued for one store write before the sink's intake waits too
    catch_up_stall_seconds: float = 2.0
    index: IndexRules = IndexRules()


@dataclass(frozen=True, slots=True)
class Webhooks:
    """How the deliverer posts and retries."""

    max_attempts: int = 12
    backoff_seconds: float = 1.0
    backoff_max_seconds: float = 300.0
    timeout_seconds: float = 10.0
    secret_key: str | None = None  # seals subscription secrets at rest (streams.webhook_secrets)
    allow_networks: tuple[str, ...] = ()  # networks webhooks may reach inside the monitor's (streams.webhook_guard)
