"""Where the API puts supervisors' and agencies' actions: the actions topic, keyed by case, acknowledged by Kafka.

The API answers only once Kafka has taken the action (acks=all), so an action the
caller was told is accepted cannot be lost; the worker judges it in the case's
order (``rules.workflow``).  Only the API writes this topic (a Kafka ACL in
production), which is what makes the role and name an action carries trustworthy.
"""

from __future__ import annotations

from typing import Any

from kafka.errors import KafkaError

from rules.actions import Action, action_message
from rules.errors import Unavailable


class ActionLog:
    def __init__(self, producer: Any, topic: str, timeout: float = 30.0) -> None:
        self.producer = producer  # a kafka-python producer (the API's emitter's: one connection)
        self.topic = topic
        self.timeout = timeout

    def publish(self, action: Action) -> tuple[int, int]:
        """Send and wait for the acknowledgement; the (partition, offset) the action was written at."""
        try:
            fut = self.producer.send(self.topic, key=action.case_id.encode(), value=action_message(action))
            meta = fut.get(timeout=self.timeout)
        except KafkaError as e:
            raise Unavailable(f"Kafka did not take the action ({e}); nothing was recorded: try again") from e
        return meta.partition, meta.offset
