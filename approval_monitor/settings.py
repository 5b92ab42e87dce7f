"""All configuration, from environment variables, in sections a command loads only when it needs them.

Variables carry the prefix ``APPROVAL_MONITOR_``, except the Kafka bootstrap
address, which also answers to the conventional ``KAFKA_BOOTSTRAP_SERVERS``.
Each setting is documented in the README's Configuration table.  This is the
only module that reads the environment: every component below takes the small
typed config a section builds (``streams.config``, ``store.factory``), so
``replay`` runs whatever the Kafka variables say, and a bad variable is one
line naming it (``approval_monitor.cli``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

import rules
from api.auth import ApiKey
from store.factory import StoreConfig
from streams.config import IndexRules, Kafka, Pipeline, Topics, Webhooks

SAMPLE_PACK = Path(rules.__file__).resolve().parent / "packs" / "cn-gov.yaml"
SAMPLE_DIRECTORY = SAMPLE_PACK.parent / "directory.yaml"
DEMO_PACK = Path(rules.__file__).resolve().parent / "packs" / "demo-minutes.yaml"
_T = Topics()


class Section(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="APPROVAL_MONITOR_", extra="ignore")


class CoreSettings(Section):
    """What every job needs, servers or not."""

    rules: Path = Field(SAMPLE_PACK, description="Rule pack YAML used by the worker, `run` and `simulate`.")
    directory: Path | None = Field(
        SAMPLE_DIRECTORY, description="YAML of agency and official names shown instead of codes (none: codes)."
    )
    retain_days: float = Field(7.0, ge=0, description="Days of event time a completed case is remembered.")
    chunk_events: int = Field(250_000, ge=1000, description="Events replay sorts in memory before spilling a run.")
    index_bands: list[float] = Field(
        [1, 3, 6, 10], min_length=4, max_length=4,
        description="Penalty points per 100 completed steps up to which a unit's five-colour index is green, blue, "
        "yellow, orange; red above (通报 and index alarms).",
    )  # fmt: skip
    index_min_steps: int = Field(
        20, ge=1, description="Completed steps this month an agency needs before its index can raise an alarm."
    )
    index_seconds: float = Field(60.0, gt=0, description="How often the sink looks at this month's indices.")


class ProcessSettings(Section):
    """How a long-running process reports: logs and metrics."""

    log_format: Literal["json", "text"] = Field(
        "json", description="Logs of the worker, sink, deliverer and API: one JSON object per line, or plain text."
    )
    metrics_port: int = Field(
        0, ge=0, le=65535, description="Port of the worker's or sink's Prometheus /metrics; 0 serves none."
    )


class KafkaSettings(Section):
    """Kafka and the pipeline's topics."""

    kafka_bootstrap_servers: str | None = Field(
        None,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "APPROVAL_MONITOR_KAFKA_BOOTSTRAP_SERVERS"),
        description="host:port[,host:port]; unset: `run` starts the embedded broker.",
    )
    app_id: str = Field(_T.app_id, min_length=1, description="Faust application id: consumer group and table prefix.")
    events_topic: str = Field(_T.events, min_length=1, description="Input events, keyed by case_id.")
    records_topic: str = Field(_T.records, min_length=1, description="Every record raised, revocations included.")
    rejected_topic: str = Field(_T.rejected, min_length=1, description="Bad events, byte for byte, with the reason.")
    ticks_topic: str = Field(_T.ticks, min_length=1, description="Internal: due-timer wake-ups, co-partitioned.")
    actions_topic: str = Field(
        _T.actions,
        min_length=1,
        description="督办, replies, appeals, decisions: written by the API only, kept forever.",
    )
    subscriptions_topic: str = Field(_T.subscriptions, min_length=1, description="Webhook subscriptions (compacted).")
    deliveries_topic: str = Field(_T.deliveries, min_length=1, description="The webhook delivery log.")
    dead_letter_topic: str = Field(_T.dead_letter, min_length=1, description="Records a subscriber never accepted.")
    partitions: int = Field(8, ge=1, description="Partitions of the events topic (and of ticks and the tables).")
    replication: int = Field(1, ge=1, description="Replication factor for topics the worker creates.")
    rejected_max_bytes: int = Field(
        2_097_152,
        ge=65536,
        description="`max.message.bytes` of the rejected topic and the worker's largest produce request; keep it "
        "at least 4/3 of the events topic's limit plus 8 KiB so every message Kafka accepted is kept whole.",
    )
    sender_timestamps: bool = Field(
        False,
        description="Take each event's received_at from its producer's Kafka timestamp instead of the broker's: "
        "only while a trusted bridge backfills archived reports with the instants they first arrived.",
    )
    session_timeout_seconds: float = Field(
        10.0, ge=6, description="How long a silent worker keeps its partitions before the others take them over."
    )
    state_dir: Path = Field(
        Path("var/faust"),
        description="Where the worker, sink and deliverer keep their local files (a RocksDB table's databases), "
        "one directory per application id.",
    )

    def topics(self) -> Topics:
        return Topics(
            app_id=self.app_id,
            events=self.events_topic,
            records=self.records_topic,
            rejected=self.rejected_topic,
            ticks=self.ticks_topic,
            actions=self.actions_topic,
            subscriptions=self.subscriptions_topic,
            deliveries=self.deliveries_topic,
            dead_letter=self.dead_letter_topic,
            partitions=self.partitions,
            rejected_max_bytes=self.rejected_max_bytes,
            sender_timestamps=self.sender_timestamps,
        )

    @staticmethod
    def env_for(topics: Topics) -> dict[str, str]:
        """The variables that give a child process ``topics``."""
        return {
            "APPROVAL_MONITOR_APP_ID": topics.app_id,
            "APPROVAL_MONITOR_EVENTS_TOPIC": topics.events,
            "APPROVAL_MONITOR_RECORDS_TOPIC": topics.records,
            "APPROVAL_MONITOR_REJECTED_TOPIC": topics.rejected,
            "APPROVAL_MONITOR_TICKS_TOPIC": topics.ticks,
            "APPROVAL_MONITOR_ACTIONS_TOPIC": topics.actions,
            "APPROVAL_MONITOR_SUBSCRIPTIONS_TOPIC": topics.subscriptions,
            "APPROVAL_MONITOR_DELIVERIES_TOPIC": topics.deliveries,
            "APPROVAL_MONITOR_DEAD_LETTER_TOPIC": topics.dead_letter,
            "APPROVAL_MONITOR_PARTITIONS": str(topics.partitions),
            "APPROVAL_MONITOR_REJECTED_MAX_BYTES": str(topics.rejected_max_bytes),
            "APPROVAL_MONITOR_SENDER_TIMESTAMPS": str(topics.sender_timestamps).lower(),
        }

    def kafka(self, bootstrap: str | None = None) -> Kafka:
        where = bootstrap or self.kafka_bootstrap_servers
        assert where, "no Kafka bootstrap address (the CLI checks KAFKA_BOOTSTRAP_SERVERS first)"
        return Kafka(
            where,
            replication=self.replication,
            session_timeout_seconds=self.session_timeout_seconds,
            state_dir=str(self.state_dir),
        )


class PipelineSettings(Section):
    """How the worker judges."""

    grace_seconds: int = Field(2, ge=0, description="Wait after a record's instant for late events before raising it.")
    batch_max: int = Field(
        500, ge=1, description="Most messages the worker judges (and the sink writes) as one batch: one fetch."
    )
    state_cache: int = Field(20_000, ge=0, description="Decoded case states a worker keeps in memory (LRU).")
    table_store: Literal["memory", "rocksdb"] = Field(
        "memory",
        description="Where the worker keeps case states: `memory` (rebuilt from the changelog on restart) or "
        "`rocksdb` (on local disk under the state directory: less memory, and a restart reads only the "
        "changelog's tail).",
    )
    max_event_bytes: int = Field(
        65536,
        ge=1024,
        description="Largest event the worker judges; a larger message is rejected as `too_large` (kept whole "
        "on the rejected topic when it fits there, otherwise its first 4 KiB, size and SHA-256).",
    )
    catch_up_stall_seconds: float = Field(
        2.0, gt=0, description="A partition catching up whose consumer judges nothing this long is read directly."
    )
    anchor_seconds: float = Field(
        10.0, gt=0, description="How often the sink publishes the record trail's chain heads to the anchors topic."
    )
    sink_write_max: int = Field(
        10_000,
        ge=1,
        description="Most messages the sink queues while the store writes: the fetches that arrive meanwhile are "
        "written together, in one transaction on SQLite, and the intake waits beyond this.",
    )

    def pipeline(self, core: CoreSettings) -> Pipeline:
        return Pipeline(
            grace_seconds=self.grace_seconds,
            retain_days=core.retain_days,
            batch_max=self.batch_max,
            state_cache=self.state_cache,
            table_store=self.table_store,
            max_event_bytes=self.max_event_bytes,
            catch_up_stall_seconds=self.catch_up_stall_seconds,
            anchor_seconds=self.anchor_seconds,
            sink_write_max=self.sink_write_max,
            index=IndexRules(tuple(core.index_bands), core.index_min_steps, core.index_seconds),
        )


class StoreSettings(Section):
    """Where the sink indexes and the API reads."""

    store_url: str = Field(
        "sqlite:///var/approval-monitor.db",
        description="sqlite:///path for the embedded store, or http(s)://host:9200 for Elasticsearch.",
    )
    store_prefix: str = Field("approval", description="Elasticsearch index and alias prefix.")
    store_shards: int = Field(1, ge=1, description="Primary shards of each Elasticsearch index the sink creates.")
    store_replicas: int = Field(0, ge=0, description="Replicas of each Elasticsearch index the sink creates.")
    display_utc_offset_hours: float = Field(8.0, ge=-14, le=14, description="Offset of the local day of statistics.")

    def store(self) -> StoreConfig:
        return StoreConfig(
            url=self.store_url,
            prefix=self.store_prefix,
            shards=self.store_shards,
            replicas=self.store_replicas,
            day_offset_seconds=int(self.display_utc_offset_hours * 3600),
        )


class ApiSettings(Section):
    """The supervisors' API."""

    api_host: str = Field("127.0.0.1", description="Address the API listens on.")
    api_port: int = Field(8080, ge=0, le=65535, description="Port the API listens on.")
    api_keys: list[ApiKey] = Field(
        default_factory=list,
        description='JSON list of {"name", "sha256", "role", "scope"}; sha256 from `approval-monitor keys hash`.',
    )
    api_max_body_bytes: int = Field(
        4 * 1024 * 1024, ge=65536, description="Largest request body the HTTP ingest reads; larger ones get 413."
    )
    score_bands: list[float] = Field(
        [0, 5, 15, 30], min_length=4, max_length=4,
        description="Penalty points up to which a scorecard is green, blue, yellow, orange; red above.",
    )  # fmt: skip
    session_hours: float = Field(8.0, gt=0, le=168, description="How long the page's sign-in lasts.")
    session_secret: str | None = Field(
        None, min_length=32,
        description="Signs the page's session cookies; give every API replica the same one (unset: one per process, "
        "so a restart signs everyone out).",
    )  # fmt: skip


class WebhookSettings(Section):
    """How the deliverer posts and retries."""

    webhook_max_attempts: int = Field(
        12, ge=1, le=100, description="Attempts per record before it is dead-lettered (a subscription may differ)."
    )
    webhook_backoff_seconds: float = Field(1.0, gt=0, description="Wait before the first retry; doubled each retry.")
    webhook_backoff_max_seconds: float = Field(300.0, gt=0, description="Longest wait between two attempts.")
    webhook_timeout_seconds: float = Field(10.0, gt=0, description="How long one webhook POST may take.")
    webhook_secret_key: str | None = Field(
        None,
        description="Key that seals subscription secrets at rest (`approval-monitor keys webhook-key`); the API "
        "and the deliverer need the same one.",
    )
    webhook_allow_networks: list[str] = Field(
        default_factory=list,
        description="JSON list of networks webhooks may reach although they are loopback, "
        'link-local or private, e.g. ["10.20.0.0/16"].',
    )

    @field_validator("webhook_allow_networks")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        import ipaddress

        for cidr in v:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not a network; write one like 10.20.0.0/16") from None
        return v

    def webhooks(self) -> Webhooks:
        return Webhooks(
            max_attempts=self.webhook_max_attempts,
            backoff_seconds=self.webhook_backoff_seconds,
            backoff_max_seconds=self.webhook_backoff_max_seconds,
            timeout_seconds=self.webhook_timeout_seconds,
            secret_key=self.webhook_secret_key,
            allow_networks=tuple(self.webhook_allow_networks),
        )


SECTIONS: tuple[type[Section], ...] = (
    CoreSettings,
    ProcessSettings,
    KafkaSettings,
    PipelineSettings,
    StoreSettings,
    ApiSettings,
    WebhookSettings,
)
