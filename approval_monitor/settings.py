"""All configuration, in one place, from environment variables.

Variables carry the prefix ``APPROVAL_MONITOR_``, except the Kafka bootstrap
address, which also answers to the conventional ``KAFKA_BOOTSTRAP_SERVERS``.
Each setting is documented in the README's Configuration table; command-line
flags override these defaults for a single run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

import rules
from api.auth import ApiKey

SAMPLE_PACK = Path(rules.__file__).resolve().parent / "packs" / "cn-gov-2026.yaml"
DEMO_PACK = Path(rules.__file__).resolve().parent / "packs" / "demo-minutes.yaml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="APPROVAL_MONITOR_", extra="ignore")

    rules: Path = Field(SAMPLE_PACK, description="Rule pack YAML used by the worker, `run` and `simulate`.")
    retain_days: float = Field(7.0, ge=0, description="Days of event time a completed case is remembered.")
    chunk_events: int = Field(250_000, ge=1000, description="Events replay sorts in memory before spilling a run.")

    # -- Kafka and the live pipeline -------------------------------------------------
    kafka_bootstrap_servers: str | None = Field(
        None,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "APPROVAL_MONITOR_KAFKA_BOOTSTRAP_SERVERS"),
        description="host:port[,host:port]; unset: `run` starts the embedded broker.",
    )
    app_id: str = Field("approval-monitor", description="Faust application id: consumer group and table prefix.")
    events_topic: str = Field("approval.events", description="Input events, keyed by case_id.")
    records_topic: str = Field("approval.records", description="Every record raised, revocations included.")
    rejected_topic: str = Field("approval.rejected", description="Bad events, unchanged, with reason and origin.")
    ticks_topic: str = Field("approval.ticks", description="Internal: due-timer wake-ups, co-partitioned with events.")
    subscriptions_topic: str = Field(
        "approval.subscriptions", description="Webhook subscriptions, keyed by id (compacted; written by the API)."
    )
    deliveries_topic: str = Field(
        "approval.webhooks.deliveries", description="The webhook delivery log: one outcome per record and subscription."
    )
    dead_letter_topic: str = Field(
        "approval.webhooks.dead", description="Records a subscriber never accepted, with every attempt's error."
    )
    store_url: str = Field(
        "sqlite:///var/approval-monitor.db",
        description="sqlite:///path for the embedded store, or http(s)://host:9200 for Elasticsearch.",
    )
    store_prefix: str = Field("approval", description="Elasticsearch index and alias prefix.")

    # -- the API ------------------------------------------------------------------------
    api_host: str = Field("127.0.0.1", description="Address the API listens on.")
    api_port: int = Field(8080, description="Port the API listens on.")
    api_keys: list[ApiKey] = Field(
        default_factory=list,
        description='JSON list of {"name", "sha256", "role", "scope"}; sha256 from `approval-monitor keys hash`.',
    )
    score_bands: list[float] = Field(
        [0, 5, 15, 30], min_length=4, max_length=4,
        description="Penalty points up to which a scorecard is green, blue, yellow, orange; red above.",
    )  # fmt: skip
    display_utc_offset_hours: float = Field(8.0, description="Offset of the local day used by daily statistics.")
    partitions: int = Field(8, ge=1, description="Partitions of the events topic (and of ticks and the table).")
    replication: int = Field(1, ge=1, description="Replication factor for topics the worker creates.")
    grace_seconds: int = Field(2, ge=0, description="Wait after a record's instant for late events before raising it.")
    batch_max: int = Field(500, ge=1, description="Most events a worker judges before making them durable together.")
    batch_seconds: float = Field(0.05, gt=0, description="Longest a worker waits to fill a batch.")
    max_event_bytes: int = Field(
        65536,
        ge=1024,
        description="Largest event the worker judges; a larger message is rejected as `too_large` (kept whole "
        "on the rejected topic when it fits there, otherwise its first 4 KiB, size and SHA-256).",
    )
    rejected_max_bytes: int = Field(
        2_097_152,
        ge=65536,
        description="`max.message.bytes` of the rejected topic and the worker's largest produce request; keep it "
        "at least 4/3 of the events topic's limit plus 8 KiB so every message Kafka accepted is kept whole.",
    )
    catch_up_stall_seconds: float = Field(
        2.0, gt=0, description="A partition catching up whose consumer judges nothing this long is read directly."
    )
    state_cache: int = Field(20_000, ge=0, description="Decoded case states a worker keeps in memory (LRU).")
    store_shards: int = Field(1, ge=1, description="Primary shards of each Elasticsearch index the sink creates.")
    store_replicas: int = Field(0, ge=0, description="Replicas of each Elasticsearch index the sink creates.")
    metrics_port: int = Field(
        0, ge=0, le=65535, description="Port of the worker's or sink's Prometheus /metrics; 0 serves none."
    )
    webhook_max_attempts: int = Field(
        12,
        ge=1,
        le=100,
        description="Attempts per record before it is dead-lettered (a subscription may set fewer or more).",
    )
    webhook_backoff_seconds: float = Field(1.0, gt=0, description="Wait before the first retry; doubled each retry.")
    webhook_backoff_max_seconds: float = Field(300.0, gt=0, description="Longest wait between two attempts.")
    webhook_timeout_seconds: float = Field(10.0, gt=0, description="How long one webhook POST may take.")
    log_format: Literal["json", "text"] = Field(
        "json", description="Logs of the worker, sink, deliverer and API: one JSON object per line, or plain text."
    )
    session_timeout_seconds: float = Field(
        10.0, ge=6, description="How long a silent worker keeps its partitions before the others take them over."
    )


def changelog_topic(settings: Settings) -> str:
    """The worker's state table changelog (Faust's naming): every case's latest state, compacted."""
    return f"{settings.app_id}-cases-changelog"


def positions_topic(settings: Settings) -> str:
    """The worker's read positions per events partition (``streams.positions``), compacted."""
    return f"{settings.app_id}-positions-changelog"


def subscription_partitions(settings: Settings) -> int:
    """Partitions of the subscriptions topic, and of the deliverers' table co-partitioned with it."""
    return max(1, settings.partitions // 2)


def get_settings() -> Settings:
    return Settings()
