"""What tests (and benchmarks) share: paths, the sample pack, event builders, and real servers."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
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


SAMPLE_PACK = ROOT / "rules" / "packs" / "cn-gov-2026.yaml"


def events(*objs: dict[str, Any]) -> list[Event]:
    """Decode dicts as input lines 1..n; every one must be valid."""
    out = []
    for i, obj in enumerate(objs, 1):
        got = decode({"event_id": str(i), **obj}, i)
        assert isinstance(got, Event), got
        out.append(got)
    return out


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


@contextlib.contextmanager
def elasticsearch(where: Path) -> Iterator[str]:
    """ELASTICSEARCH_URL if set (a real cluster); else noida-db's endpoint with its data in ``where``."""
    given = os.environ.get("ELASTICSEARCH_URL")
    if given:
        yield given
        return
    from approval_monitor.embedded import free_port

    port = free_port()
    log = open(where / "noida.log", "wb")  # noqa: SIM115 - the child owns it
    proc = start_noida(port, where, log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url, timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = (where / "noida.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"noida-db did not start: {tail}") from None
                time.sleep(0.2)
        yield url
    finally:
        stop_noida(proc)


def start_noida(port: int, data: Path, log: Any) -> subprocess.Popen[bytes]:
    """noida-db's Elasticsearch endpoint, in a process group of its own: its console script forks the real binary."""
    beside = Path(sys.executable).parent / "noida-db"  # the venv's console script, on PATH or not
    return subprocess.Popen(
        [
            str(beside) if beside.exists() else "noida-db",
            "start",
            "--only",
            "elasticsearch",
            "--elasticsearch-port",
            str(port),
            "--data-dir",
            str(data),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_noida(proc: subprocess.Popen[bytes]) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
