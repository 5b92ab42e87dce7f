"""What tests (and benchmarks) share: paths, the sample pack, event builders, and real servers."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rules.engine import Engine
from rules.events import Event, Rejection, decode
from rules.pack import parse_pack
from rules.records import Record
from rules.replay import replay_events
from rules.timeutil import parse_instant

ROOT = Path(__file__).resolve().parent.parent.parent


EXAMPLES = sorted(p for p in (ROOT / "tests" / "examples").iterdir() if p.is_dir())


SAMPLE_PACK = ROOT / "rules" / "packs" / "cn-gov.yaml"


def events(*objs: dict[str, Any]) -> list[Event]:
    """Decode dicts as input lines 1..n; every one must be valid."""
    out = []
    for i, obj in enumerate(objs, 1):
        got = decode({"event_id": str(i), **obj}, i)
        assert isinstance(got, Event), got
        out.append(got)
    return out


def started(engine: Engine, at: int, case_id: str = "K", item: str = "x", step: str = "s", agency: str = "a") -> Any:
    """A case submitted and its step started at ``at``: the engine's state of it."""
    st = None
    for i, (typ, kw) in enumerate((("case_submitted", {"item_code": item, "agency_id": agency}),
                                   ("step_started", {"step": step}))):  # fmt: skip
        st, _ = engine.apply(st, Event(at, i, typ, f"e{i}", case_id, **kw))
    assert st is not None
    return st


def judge(pack_yaml: str, objs: list[dict[str, Any]], until: str) -> tuple[list[Record], list[Rejection]]:
    pack = parse_pack(pack_yaml)
    out = replay_events(Engine(pack), events(*objs), parse_instant(until))
    return [o for o in out if isinstance(o, Record)], [o for o in out if isinstance(o, Rejection)]


def brief(records: list[Record]) -> list[tuple[str, str | None, str]]:
    """(kind, step, at) of each record, in output order."""
    return [(r.kind, r.step, r.to_json()["at"]) for r in records]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@contextlib.contextmanager
def kafka_broker(where: Path) -> Iterator[str]:
    """KAFKA_BOOTSTRAP_SERVERS if set; else Apache Kafka started from its jars in ``where``, stopped after."""
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        yield given
        return
    script = ROOT / "deploy" / "kafka.sh"
    started = subprocess.run([str(script), "start", str(where)], capture_output=True, text=True, check=False)
    if started.returncode != 0:
        raise RuntimeError(f"could not start Kafka: {started.stderr}")
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([str(script), "stop", str(where)], check=False)


@dataclass(frozen=True)
class ElasticNode:
    """An Elasticsearch endpoint; ``home`` is set when this run started the node (and so may stop and restart it)."""

    url: str
    home: Path | None

    def stop(self) -> None:
        assert self.home is not None, "an external cluster is not this run's to stop"
        subprocess.run([str(ES_SCRIPT), "stop", str(self.home)], check=False)

    def start(self) -> None:
        """Starts the node again on the same data directory and port."""
        assert self.home is not None, "an external cluster is not this run's to start"
        started = subprocess.run([str(ES_SCRIPT), "start", str(self.home)], capture_output=True, text=True, check=False)
        if started.returncode != 0:
            raise RuntimeError(f"could not start Elasticsearch: {started.stderr}")
        assert started.stdout.strip().splitlines()[-1] == self.url


ES_SCRIPT = ROOT / "deploy" / "elasticsearch.sh"


@contextlib.contextmanager
def elasticsearch(where: Path) -> Iterator[ElasticNode]:
    """ELASTICSEARCH_URL if set (a real cluster); else one Elasticsearch node started from its jars in ``where``."""
    given = os.environ.get("ELASTICSEARCH_URL")
    if given:
        yield ElasticNode(given, None)
        return
    started = subprocess.run([str(ES_SCRIPT), "start", str(where)], capture_output=True, text=True, check=False)
    if started.returncode != 0:
        raise RuntimeError(f"could not start Elasticsearch: {started.stderr}")
    node = ElasticNode(started.stdout.strip().splitlines()[-1], where)
    try:
        yield node
    finally:
        node.stop()
