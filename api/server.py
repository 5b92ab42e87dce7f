"""Running the API: the store and the emitter from configuration, served by uvicorn."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from api.app import create_api
from api.auth import Keyring
from approval_monitor.logs import logging_config
from approval_monitor.settings import Settings


def build(settings: Settings) -> FastAPI:
    from streams.alerts import RecordFeed
    from streams.emitter import Emitter
    from streams.sink import open_store
    from streams.subscriptions import SubscriptionLog
    from streams.topics import ensure_topics

    bootstrap = settings.kafka_bootstrap_servers
    emitter = Emitter(bootstrap, settings.events_topic) if bootstrap else None
    feed = RecordFeed(bootstrap, settings.records_topic) if bootstrap else None
    subscriptions = None
    if bootstrap:
        ensure_topics(settings, bootstrap)  # the subscriptions topic must be compacted from its first write
        subscriptions = SubscriptionLog(bootstrap, settings.subscriptions_topic, settings.records_topic)
    return create_api(
        open_store(settings),
        Keyring(settings.api_keys),
        bands=settings.score_bands,
        utc_offset_hours=settings.display_utc_offset_hours,
        emitter=emitter,
        feed=feed,
        subscriptions=subscriptions,
    )


def serve(settings: Settings) -> None:
    config = logging_config(settings.log_format)
    uvicorn.run(build(settings), host=settings.api_host, port=settings.api_port, log_level="info", log_config=config)
