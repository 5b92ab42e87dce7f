"""Webhook subscriptions: what a subscriber asked for, and the compacted topic that holds them.

The subscriptions topic is the one source of truth: the API writes a
subscription there (keyed by its id; a tombstone deletes it), the deliverers
read it, and a listing is a read of the topic to its end — so there is no
second copy to drift, and a subscription created through one API instance is
seen by every other at once.

A new subscription records the records topic's end offsets at the moment it is
created, and its deliverer starts there: every matching record raised after the
``201`` is delivered, including those raised before a deliverer picked the
subscription up.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from pydantic import BaseModel, Field

from rules.agency import in_subtree
from rules.timeutil import format_instant
from streams.topic_reader import read_to_end


class Subscription(BaseModel):
    """One subscriber's webhook, as kept on the subscriptions topic (secret included: deliverers sign with it)."""

    id: str
    url: str
    agency: str | None = None  # subtree; None: every agency
    kinds: list[str] = Field(default_factory=list)  # empty: every kind
    items: list[str] = Field(default_factory=list)  # item codes; empty: every item
    max_attempts: int | None = None  # None: the deliverer's configured default
    description: str = ""
    secret: str
    created_at: str
    created_by: str
    start: dict[int, int] = Field(default_factory=dict)  # records partition -> first offset to deliver

    def public(self) -> dict[str, Any]:
        """What a listing shows: everything but the secret, which is shown once, when created."""
        return self.model_dump(exclude={"secret", "start"})


def matches(sub: Subscription, record: dict[str, Any]) -> bool:
    """Whether ``record`` is one ``sub`` asked for (the same subtree rule as every agency filter)."""
    if sub.kinds and record.get("kind") not in sub.kinds:
        return False
    if sub.items and record.get("item_code") not in sub.items:
        return False
    return in_subtree(str(record.get("agency_id", "")), sub.agency)


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def new_id() -> str:
    return "sub_" + uuid.uuid4().hex[:16]


class SubscriptionLog:
    """The API's handle on the subscriptions topic (kafka-python, no consumer group: calls are short reads)."""

    def __init__(
        self, bootstrap: str, topic: str, records_topic: str, *, box: Any = None, allow: Sequence[Any] = ()
    ) -> None:
        """``box``: the ``streams.webhook_secrets.SecretBox`` secrets are sealed with (None: no subscription
        can be made); ``allow``: networks webhooks may reach inside the monitor's (``streams.webhook_guard``)."""
        self.box = box
        self.allow = list(allow)
        self.bootstrap = bootstrap
        self.topic = topic
        self.records_topic = records_topic
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()  # calls come from the API's worker threads

    def _produce(self, key: str, value: bytes | None) -> None:
        with self._lock:
            if self._producer is None:
                self._producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", client_id="approval-api")
            producer = self._producer
        producer.send(self.topic, key=key.encode(), value=value).get(timeout=30)

    def create(self, sub: Subscription) -> Subscription:
        """Publish ``sub`` starting at the records topic's current end; returns it as published."""
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False)
        try:
            parts = consumer.partitions_for_topic(self.records_topic) or set()
            ends = consumer.end_offsets([TopicPartition(self.records_topic, p) for p in parts]) if parts else {}
        finally:
            consumer.close()
        sub = sub.model_copy(update={"start": {tp.partition: off for tp, off in ends.items()}})
        self._produce(sub.id, sub.model_dump_json().encode())
        return sub

    def delete(self, sub_id: str) -> None:
        self._produce(sub_id, None)

    def all(self, timeout: float = 20.0) -> dict[str, Subscription]:
        """Every live subscription: the topic read to its end, later versions winning, tombstones deleting."""
        found: dict[str, Subscription] = {}
        for m in read_to_end(self.bootstrap, self.topic, timeout):
            key = m.key.decode()
            if m.value is None:
                found.pop(key, None)
            else:
                found[key] = Subscription.model_validate_json(m.value)
        return found

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close()
                self._producer = None


def now_text() -> str:
    return format_instant(int(time.time()))
