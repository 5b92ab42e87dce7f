"""Schemathesis against the API's own OpenAPI document: whatever the schema allows, no server error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from support import SAMPLE_PACK
from support.data import AUTH, KEYS, RECORDS, filled_sqlite

from api.app import create_api
from api.auth import ApiKey, Keyring, hash_key
from rules.pack import parse_pack
from streams.action_log import ActionLog
from streams.config import Kafka, Topics
from streams.emitter import Emitter
from streams.subscriptions import SubscriptionLog
from streams.topics import ensure_topics
from streams.webhook_guard import networks
from streams.webhook_secrets import SecretBox, new_key

pytestmark = pytest.mark.kafka


class FiniteFeed:
    """A stand-in for the records topic that ends, so a fuzzed stream request completes (unit double)."""

    async def follow(self, resume: dict[int, int] | None) -> AsyncIterator[tuple[str, dict[str, Any] | None]]:
        yield "0:0", None
        for i, record in enumerate(RECORDS[:3], 1):
            yield f"0:{i}", record


@pytest.fixture(scope="module")
def api_schema(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> schemathesis.BaseSchema:
    store = filled_sqlite(tmp_path_factory.mktemp("fuzz") / "monitor.db")
    emitter = Emitter(kafka_bootstrap, "fuzz.approval.events")
    topics = Topics(app_id="fuzz", events="fuzz.events", ticks="fuzz.ticks", records="fuzz.records",
                    subscriptions="fuzz.subscriptions", actions="fuzz.actions", partitions=1)  # fmt: skip
    ensure_topics(topics, Kafka(kafka_bootstrap))
    subscriptions = SubscriptionLog(kafka_bootstrap, topics.subscriptions, topics.records,
                                    box=SecretBox(new_key()), allow=networks(["127.0.0.0/8"]))  # fmt: skip
    keys = [*KEYS.values(), ApiKey(name="admin", sha256=hash_key("admin-key"), role="admin")]
    app = create_api(store, Keyring(keys), bands=[0, 5, 15, 30], emitter=emitter, feed=FiniteFeed(),
                     subscriptions=subscriptions, pack=parse_pack(SAMPLE_PACK.read_text()),
                     actions=ActionLog(emitter.producer, topics.actions))  # fmt: skip
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_no_server_errors(api_schema: schemathesis.BaseSchema) -> None:
    """Each operation's strategy is driven directly (schemathesis' pytest plugin does not load under pytest 9)."""
    checked = []
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_5xx(case: schemathesis.Case) -> None:
            if "/subscriptions" in case.path and "/supervisions" not in case.path:
                headers = {"Authorization": "Bearer admin-key"}
            elif case.method == "POST" and (case.path.endswith("/reply") or case.path == "/v1/appeals"):
                headers = AUTH["market"]  # an agency answers and appeals
            elif case.method == "POST" and case.path != "/v1/events":
                headers = AUTH["sup"]  # a supervisor orders, reviews, decides, acknowledges
            else:
                headers = AUTH["ingest"] if case.method == "POST" else AUTH["sup"]
            response = case.call(headers=headers)
            assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"

        no_5xx()
        checked.append(f"{operation.method.upper()} {operation.path}")
    wanted = {"GET /v1/overdue", "GET /v1/records", "POST /v1/events", "GET /v1/alerts/stream",
              "POST /v1/subscriptions", "GET /v1/subscriptions/{sub_id}/deliveries",
              "DELETE /v1/subscriptions/{sub_id}", "POST /v1/supervisions", "POST /v1/appeals",
              "POST /v1/appeals/{appeal_id}/decision", "POST /v1/records/{record_id}/ack"}  # fmt: skip
    assert wanted <= set(checked)
