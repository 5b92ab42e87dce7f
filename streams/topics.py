"""The pipeline's topics, created at start-up with the partition counts the design needs.

Events, ticks and actions must have the same number of partitions: the worker's
table is co-partitioned with all three, and a case's ticks and actions go to its
events' partition.
Records and rejections are keyed by case too, so a consumer sees a case's
history in order.  Webhook subscriptions are few: half as many partitions,
which bounds how many deliverer processes share them.  The state table's changelog is created here as well (with
Faust's name for it), so the worker and the sink, which reads it, agree on it
whichever starts first.
"""

from __future__ import annotations

import contextlib
import logging
import time

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from rules.errors import BadInput, Unavailable
from streams.config import Kafka, Topics
from streams.provenance import events_topic_config

log = logging.getLogger(__name__)


def topic_specs(topics: Topics) -> dict[str, int]:
    n = topics.partitions
    return {
        topics.events: n,
        topics.ticks: n,
        topics.actions: n,
        topics.records: n,
        topics.rejected: max(1, n // 2),
        topics.cases_changelog: n,
        topics.positions_changelog: n,
        topics.subscriptions: topics.subscription_partitions,
        topics.deliveries: n,
        topics.dead_letter: max(1, n // 2),
        topics.anchors: 1,
    }


def ensure_topics(topics: Topics, kafka: Kafka, timeout: float = 30.0) -> None:
    """Create missing topics; check that the events, ticks and actions topics agree on partitions."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap, client_id=f"{topics.app_id}-admin")
            break
        except KafkaError as e:
            if time.monotonic() > deadline:
                raise Unavailable(f"Kafka at {kafka.bootstrap} did not answer within {timeout:.0f}s: {e}") from e
            time.sleep(0.5)
    try:
        specs = topic_specs(topics)
        existing = set(admin.list_topics())
        # Only a case's latest state counts, and a subscription's latest version (a tombstone deletes it).
        compact = {"cleanup.policy": "compact"}
        forever = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}
        configs = {
            topics.cases_changelog: compact,
            topics.positions_changelog: compact,
            topics.subscriptions: compact,
            # Every rejection fits: the input kept whole, or its head, size and hash (streams.rejections).
            topics.rejected: {"max.message.bytes": str(topics.rejected_max_bytes)},
            # The broker stamps each event as it arrives: its received_at (streams.provenance).
            topics.events: events_topic_config(topics.sender_timestamps),
            # Evidence that the store's trail was whole up to each head: never deleted, never compacted.
            topics.anchors: forever,
            # What supervisors and agencies did, as they did it: the originals behind every action record.
            topics.actions: forever,
        }
        missing = [
            NewTopic(name, num_partitions=n, replication_factor=kafka.replication, topic_configs=configs.get(name, {}))
            for name, n in specs.items()
            if name not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker was quicker
                admin.create_topics(missing)
            log.info("created topics", extra={"topics": [t.name for t in missing]})
        if topics.rejected in existing:
            _set_configs(admin, topics.rejected, {"max.message.bytes": str(topics.rejected_max_bytes)})
        if topics.events in existing:
            _set_configs(admin, topics.events, events_topic_config(topics.sender_timestamps))
        pair = [topics.events, topics.ticks, topics.actions]
        described = _partition_counts(admin, pair)
        for other in pair[1:]:
            if described.get(topics.events) != described.get(other):
                raise BadInput(
                    f"topic {topics.events} has {described.get(topics.events)} partitions but "
                    f"{other} has {described.get(other)}; they must match "
                    f"(recreate {other} with the events topic's count)"
                )
    finally:
        admin.close()


def _partition_counts(admin: KafkaAdminClient, names: list[str], wait: float = 10.0) -> dict[str, int]:
    """Partitions per topic; a topic just created may show none until its metadata reaches the broker we ask."""
    deadline = time.monotonic() + wait
    while True:
        counts = {d["name"]: len(d["partitions"]) for d in admin.describe_topics(names)}
        if all(counts.get(n) for n in names) or time.monotonic() > deadline:
            return counts
        time.sleep(0.2)


def _set_configs(admin: KafkaAdminClient, topic: str, configs: dict[str, str]) -> None:
    """An existing topic gets the settings the pipeline relies on (set incrementally: others are kept):
    the rejected topic the limit every rejection is sized for, the events topic broker timestamps."""
    try:
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs=configs)])
    except KafkaError as e:  # e.g. a broker that does not allow it
        log.warning(
            "could not set %s on %s (%s); set it by hand", configs, topic, e, extra={"topic": topic, **configs},
        )  # fmt: skip
