"""Running a worker: check the pack, create topics, hand the app to Faust's worker."""

from __future__ import annotations

import faust

from approval_monitor.logs import logging_config
from approval_monitor.settings import Settings
from rules.pack import load_pack
from streams.app import create_app
from streams.metrics import PipelineMetrics
from streams.topics import ensure_topics


def run_worker(settings: Settings, bootstrap: str, loglevel: str = "warning") -> None:
    pack = load_pack(settings.rules)  # a bad pack fails here, before anything is consumed
    ensure_topics(settings, bootstrap)
    metrics = PipelineMetrics()
    app = create_app(settings, pack, bootstrap, metrics)
    metrics.serve(settings.metrics_port)
    config = logging_config(settings.log_format, loglevel)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, override_logging=True, logging_config=config)
    worker.execute_from_commandline()
