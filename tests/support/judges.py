"""A worker's ``Judge`` without Kafka, for unit tests of its bookkeeping (wake hints, held ticks)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from approval_monitor.packs import load_pack
from rules.engine import Engine
from streams.judging import Judge, JudgeConfig
from streams.metrics import PipelineMetrics
from streams.positions import Positions


class _MemoryStore:
    """What ``LocalTable`` uses of the memory store (``streams.memory_store.Store``): a dict per partition."""

    def __init__(self) -> None:
        self.partitions: dict[int, dict[bytes, bytes]] = {}

    def partition(self, partition: int) -> dict[bytes, bytes]:
        return self.partitions.setdefault(partition, {})

    def set_persisted_offset(self, tp: object, offset: int) -> None:
        pass


def _table() -> SimpleNamespace:
    return SimpleNamespace(changelog_topic=SimpleNamespace(get_topic_name=lambda: "changelog"), data=_MemoryStore())


def offline_judge(pack_path: Path) -> Judge:
    """A judge of the pack at ``pack_path`` over empty in-memory tables and an events feed nobody serves."""
    config = JudgeConfig(
        ticks_topic="ticks", records_topic="records", rejected_topic="rejected", grace=2,
        retain_seconds=7 * 86400, state_cache=10, max_event_bytes=65536, rejected_max_bytes=2**21,
    )  # fmt: skip
    positions = Positions("events", "127.0.0.1:9", "test", 2**21)
    return Judge(None, Engine(load_pack(pack_path)), _table(), _table(), positions, PipelineMetrics(), config)
