"""Running a worker: check the pack, create topics, hand the app to Faust's worker."""

from __future__ import annotations

from approval_monitor.settings import Settings
from rules.pack import load_pack
from streams.app import create_app
from streams.faust_app import run_app
from streams.metrics import PipelineMetrics
from streams.topics import ensure_topics


def run_worker(settings: Settings, bootstrap: str, loglevel: str = "warning") -> None:
    pack = load_pack(settings.rules)  # a bad pack fails here, before anything is consumed
    ensure_topics(settings, bootstrap)
    metrics = PipelineMetrics()
    app = create_app(settings, pack, bootstrap, metrics)
    run_app(app, settings, metrics, loglevel)
