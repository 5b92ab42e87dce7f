"""The one place a store is chosen, by URL (as Jaeger's and Zipkin's storage factories do)."""

from __future__ import annotations

from dataclasses import dataclass

from rules.errors import BadInput
from store.base import Store


@dataclass(frozen=True, slots=True)
class StoreConfig:
    url: str = "sqlite:///var/approval-monitor.db"
    prefix: str = "approval"  # Elasticsearch index and alias prefix
    shards: int = 1
    replicas: int = 0
    day_offset_seconds: int = 8 * 3600  # the local day of daily roll-ups


def open_store(config: StoreConfig) -> Store:
    url = config.url
    if url.startswith("sqlite:///"):
        from store.sqlite import SqliteStore

        return SqliteStore(url.removeprefix("sqlite:///"), day_offset=config.day_offset_seconds)
    if url.startswith(("http://", "https://")):
        from store.elastic import ElasticStore

        return ElasticStore(url, prefix=config.prefix, shards=config.shards, replicas=config.replicas)
    raise BadInput(f"APPROVAL_MONITOR_STORE_URL={url!r}: use sqlite:///path/to/file.db or http(s)://host:9200")
