"""The pipeline's topics, created at start-up with the partition counts the design needs.

Events and ticks must have the same number of partitions: the worker's table is
co-partitioned with both, and a case's ticks go to its events' partition.
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

from approval_monitor.settings import Settings, changelog_topic, positions_topic, subscription_partitions

log = logging.getLogger(__name__)


def topic_specs(settings: Settings) -> dict[str, int]:
    n = settings.partitions
    return {
        settings.events_topic: n,
        settings.ticks_topic: n,
        settings.records_topic: n,
        settings.rejected_topic: max(1, n // 2),
        changelog_topic(settings): n,
        positions_topic(settings): n,
        settings.subscriptions_topic: subscription_partitions(settings),
        settings.deliveries_topic: n,
        settings.dead_letter_topic: max(1, n // 2),
    }


def ensure_topics(settings: Settings, bootstrap: str, timeout: float = 30.0) -> None:
    """Create missing topics; check that existing events and ticks topics agree on partitions."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id=f"{settings.app_id}-admin")
            break
        except KafkaError as e:
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kafka at {bootstrap} did not answer within {timeout:.0f}s: {e}") from e
            time.sleep(0.5)
    try:
        specs = topic_specs(settings)
        existing = set(admin.list_topics())
        # Only a case's latest state counts, and a subscription's latest version (a tombstone deletes it).
        compact = {"cleanup.policy": "compact"}
        configs = {
            changelog_topic(settings): compact,
            positions_topic(settings): compact,
            settings.subscriptions_topic: compact,
            # Every rejection fits: the input kept whole, or its head, size and hash (streams.rejections).
            settings.rejected_topic: {"max.message.bytes": str(settings.rejected_max_bytes)},
        }
        missing = [
            NewTopic(
                name, num_partitions=n, replication_factor=settings.replication, topic_configs=configs.get(name, {})
            )
            for name, n in specs.items()
            if name not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker was quicker
                admin.create_topics(missing)
            log.info("created topics", extra={"topics": [t.name for t in missing]})
        if settings.rejected_topic in existing:
            _raise_message_limit(admin, settings.rejected_topic, settings.rejected_max_bytes)
        pair = [settings.events_topic, settings.ticks_topic]
        described = {d["name"]: len(d["partitions"]) for d in admin.describe_topics(pair)}
        if described.get(settings.events_topic) != described.get(settings.ticks_topic):
            raise RuntimeError(
                f"topic {settings.events_topic} has {described.get(settings.events_topic)} partitions but "
                f"{settings.ticks_topic} has {described.get(settings.ticks_topic)}; they must match "
                "(recreate the ticks topic with the events topic's count)"
            )
    finally:
        admin.close()


def _raise_message_limit(admin: KafkaAdminClient, topic: str, limit: int) -> None:
    """An existing rejected topic gets the limit every rejection is sized for (a smaller one would stop the worker)."""
    try:
        admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, configs={"max.message.bytes": str(limit)})]
        )
    except KafkaError as e:  # e.g. a broker that does not support it: rejections above its limit stop the worker
        log.warning(
            "could not set max.message.bytes=%d on %s (%s); set it by hand", limit, topic, e,
            extra={"topic": topic, "limit": limit},
        )  # fmt: skip
