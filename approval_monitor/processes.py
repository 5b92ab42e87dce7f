"""Assembling and running each long-running process from configuration: the composition root's work.

Each runner loads the settings sections it needs, builds the small configs the
components take, creates topics, and hands the Faust app to Faust's worker (or
the API to uvicorn) with the configured log format and metrics port.
"""

from __future__ import annotations

from typing import Any

from approval_monitor.logs import logging_config
from approval_monitor.settings import (
    ApiSettings,
    CoreSettings,
    KafkaSettings,
    PipelineSettings,
    ProcessSettings,
    StoreSettings,
    WebhookSettings,
)
from streams.metrics import PipelineMetrics


def run_faust(app: Any, process: ProcessSettings, metrics: PipelineMetrics, loglevel: str) -> None:
    """Serve the process's metrics and hand ``app`` to Faust's worker, logging in the configured format."""
    import faust

    metrics.serve(process.metrics_port)
    config = logging_config(process.log_format, loglevel)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, override_logging=True, logging_config=config)
    worker.execute_from_commandline()


def run_worker(bootstrap: str, loglevel: str = "warning") -> None:
    from approval_monitor.packs import load_pack
    from streams.app import create_app
    from streams.topics import ensure_topics

    core, kafka_s = CoreSettings(), KafkaSettings()
    pack = load_pack(core.rules)  # a bad pack fails here, before anything is consumed
    topics, kafka = kafka_s.topics(), kafka_s.kafka(bootstrap)
    ensure_topics(topics, kafka)
    metrics = PipelineMetrics()
    app = create_app(topics, kafka, PipelineSettings().pipeline(core), pack, metrics)
    run_faust(app, ProcessSettings(), metrics, loglevel)


def run_sink(bootstrap: str, loglevel: str = "warning") -> None:
    from approval_monitor.packs import load_pack
    from store.factory import open_store
    from streams.sink import create_sink_app
    from streams.topics import ensure_topics

    core, kafka_s = CoreSettings(), KafkaSettings()
    topics, kafka = kafka_s.topics(), kafka_s.kafka(bootstrap)
    ensure_topics(topics, kafka)
    store_s = StoreSettings()
    store = open_store(store_s.store())
    metrics = PipelineMetrics()
    app = create_sink_app(topics, kafka, PipelineSettings().pipeline(core), load_pack(core.rules), store, metrics,
                          utc_offset=int(store_s.display_utc_offset_hours * 3600))  # fmt: skip
    run_faust(app, ProcessSettings(), metrics, loglevel)


def run_webhooks(bootstrap: str, loglevel: str = "warning") -> None:
    from streams.topics import ensure_topics
    from streams.webhooks import create_webhook_app

    kafka_s = KafkaSettings()
    topics, kafka = kafka_s.topics(), kafka_s.kafka(bootstrap)
    ensure_topics(topics, kafka)
    metrics = PipelineMetrics()
    app = create_webhook_app(topics, kafka, WebhookSettings().webhooks(), metrics)
    run_faust(app, ProcessSettings(), metrics, loglevel)


def build_api() -> Any:
    """The API on the configured store, with the Kafka parts (ingest, alerts, subscriptions) when Kafka is set."""
    from api.app import create_api
    from api.auth import Keyring
    from api.sessions import Sessions
    from approval_monitor.packs import load_directory, load_pack
    from store.factory import open_store
    from streams.action_log import ActionLog
    from streams.alerts import RecordFeed
    from streams.emitter import Emitter
    from streams.subscriptions import SubscriptionLog
    from streams.topics import ensure_topics
    from streams.webhook_guard import networks
    from streams.webhook_secrets import SecretBox

    api, store_s, kafka_s = ApiSettings(), StoreSettings(), KafkaSettings()
    topics, bootstrap = kafka_s.topics(), kafka_s.kafka_bootstrap_servers
    emitter = None
    if bootstrap:
        emitter = Emitter(bootstrap, topics.events, rejected_topic=topics.rejected,
                          max_event_bytes=PipelineSettings().max_event_bytes,
                          rejected_max_bytes=topics.rejected_max_bytes)  # fmt: skip
    feed = RecordFeed(bootstrap, topics.records) if bootstrap else None
    actions = None if emitter is None else ActionLog(emitter.producer, topics.actions)
    subscriptions = None
    if bootstrap:
        ensure_topics(topics, kafka_s.kafka())  # the subscriptions topic must be compacted from its first write
        hooks = WebhookSettings().webhooks()
        subscriptions = SubscriptionLog(
            bootstrap, topics.subscriptions, topics.records,
            box=SecretBox(hooks.secret_key) if hooks.secret_key else None, allow=networks(hooks.allow_networks),
        )  # fmt: skip
    return create_api(
        open_store(store_s.store()),
        Keyring(api.api_keys),
        bands=api.score_bands,
        utc_offset_hours=store_s.display_utc_offset_hours,
        emitter=emitter,
        feed=feed,
        subscriptions=subscriptions,
        actions=actions,
        max_body_bytes=api.api_max_body_bytes,
        pack=load_pack(CoreSettings().rules),  # calendar coverage for the page, due times, appeal windows
        index_bands=CoreSettings().index_bands,
        directory=load_directory(CoreSettings().directory),
        sessions=Sessions(api.session_secret.encode() if api.session_secret else None, api.session_hours),
    )


def serve_api() -> None:
    import uvicorn

    api, process = ApiSettings(), ProcessSettings()
    config = logging_config(process.log_format)
    uvicorn.run(build_api(), host=api.api_host, port=api.api_port, log_level="info", log_config=config)
