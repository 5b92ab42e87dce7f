"""Helpers for tests against real brokers: worker processes, topic readers, feeds, histories, a loopback API.

Every test gets its own app id and topic names, so one broker serves the whole
session and tests cannot see each other's messages.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from approval_monitor.embedded import free_port
from approval_monitor.packs import load_pack
from approval_monitor.replay_job import replay_file
from approval_monitor.settings import KafkaSettings
from approval_monitor.simulate import Scenario, simulate_lines
from rules.events import Event, parse_line
from rules.timeutil import format_instant, parse_instant
from streams.config import Topics
from streams.emitter import Emitter
from streams.topic_reader import read_to_end
from streams.webhook_secrets import new_key
from support import SAMPLE_PACK

ROOT = Path(__file__).resolve().parent.parent.parent

# Natural seconds (no calendar), limits of tens of seconds: timers really driven by the wall clock in a test.
QUICK_PACK = """
version: 1
penalties: {overdue: 2, case_overdue: 3, procedure: 2}
items:
  - code: quick
    limit_hours: 0.01          # the case: 36 s
    reminder_at: 0.5
    warning_at: 0.8
    steps:
      - {name: accept, limit_hours: 0.005}   # 18 s: reminder 9 s, warning 14.4 -> 15 s
      - {name: review, limit_hours: 0.005}
"""


WEBHOOK_KEY = new_key()
# Faust's local files of every process the tests start (a directory per app id), removed when the run ends.
STATE_DIR = Path(tempfile.mkdtemp(prefix="am-test-state-"))
atexit.register(shutil.rmtree, STATE_DIR, ignore_errors=True)


class Names:
    """Fresh topic names and app id for one test."""

    def __init__(self, partitions: int = 4) -> None:
        tag = uuid.uuid4().hex[:8]
        self.app_id = f"am-test-{tag}"
        self.events = f"t{tag}.events"
        self.ticks = f"t{tag}.ticks"
        self.actions = f"t{tag}.actions"
        self.records = f"t{tag}.records"
        self.rejected = f"t{tag}.rejected"
        self.subscriptions = f"t{tag}.subscriptions"
        self.deliveries = f"t{tag}.deliveries"
        self.dead = f"t{tag}.dead"
        self.partitions = partitions

    def topics(self) -> Topics:
        return Topics(
            app_id=self.app_id, events=self.events, records=self.records, rejected=self.rejected, ticks=self.ticks,
            actions=self.actions, subscriptions=self.subscriptions, deliveries=self.deliveries, dead_letter=self.dead,
            partitions=self.partitions,
        )  # fmt: skip

    def env(self, bootstrap: str, rules: Path, grace: int = 1) -> dict[str, str]:
        return {
            **os.environ,
            **KafkaSettings.env_for(self.topics()),
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "APPROVAL_MONITOR_RULES": str(rules),
            "APPROVAL_MONITOR_GRACE_SECONDS": str(grace),
            "APPROVAL_MONITOR_STATE_DIR": str(STATE_DIR),
            # The tests' webhook receivers listen on loopback.
            "APPROVAL_MONITOR_WEBHOOK_SECRET_KEY": WEBHOOK_KEY,
            "APPROVAL_MONITOR_WEBHOOK_ALLOW_NETWORKS": '["127.0.0.0/8"]',
        }


def assert_table_store(names: Names, store: str, state_dir: Path = STATE_DIR) -> None:
    """The worker kept its case states where it was told: RocksDB leaves a database per partition on disk."""
    databases = list((state_dir / names.app_id).rglob("cases-*.db"))
    assert bool(databases) == (store == "rocksdb"), f"{store} table store, databases on disk: {databases}"


class Worker:
    """``approval-monitor worker`` as a child process, with its log in a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, command: str = "worker") -> Worker:
        out = open(self.log, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "approval_monitor", command, "--loglevel", "info"],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        return self

    def marks(self, text: str) -> int:
        """How often ``text`` stands in the log of every run so far."""
        return self.log.read_text(errors="replace").count(text) if self.log.exists() else 0

    def ready_count(self) -> int:
        return self.marks("timers rebuilt")

    def wait_ready(self, after: int = 0, timeout: float = 60) -> None:
        """Until this worker has finished (another) recovery: its due-indexes are built."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready_count() > after:
                return
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.tail()}")
            time.sleep(0.2)
        raise AssertionError(f"worker not ready within {timeout}s:\n{self.tail()}")

    def wait_log(self, text: str, count: int, timeout: float = 60) -> None:
        """Until the log (all runs so far) holds ``text`` ``count`` times; quietly if the worker died meanwhile."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.marks(text) >= count:
                return
            if self.proc is not None and self.proc.poll() is not None:
                return
            time.sleep(0.02)
        raise AssertionError(f"no {text!r} #{count} in the worker's log within {timeout}s:\n{self.tail()}")

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def read_topic(bootstrap: str, topic: str, timeout: float = 20) -> list[tuple[Any, int, int]]:
    """Every message on ``topic`` up to its end offsets now: (value as JSON, partition, timestamp ms)."""
    return [(orjson.loads(v), p, ts) for v, p, ts in read_topic_raw(bootstrap, topic, timeout)]


def read_topic_raw(bootstrap: str, topic: str, timeout: float = 20) -> list[tuple[bytes, int, int]]:
    """Every message on ``topic`` up to its end offsets now: (value bytes, partition, timestamp ms)."""
    return [(m.value, m.partition, m.timestamp) for m in read_to_end(bootstrap, topic, timeout)]


def wait_for(
    bootstrap: str, topic: str, done: Callable[[list[Any]], bool], timeout: float = 60
) -> list[tuple[Any, int, int]]:
    deadline = time.monotonic() + timeout
    got: list[tuple[Any, int, int]] = []
    while time.monotonic() < deadline:
        got = read_topic(bootstrap, topic)
        if done([g[0] for g in got]):
            return got
        time.sleep(0.5)
    return got


def raw_producer(bootstrap: str) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=bootstrap, acks="all")


def stamp(t: float) -> str:
    return format_instant(int(t))


class Feed:
    """Sends events stamped with the wall clock, remembering them in arrival order for replay."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.emitter = Emitter(bootstrap, topic)
        self.sent: list[dict] = []
        self.serial = 0

    def send(self, case: str, typ: str, at: float | None = None, **fields: object) -> None:
        self.serial += 1
        obj = {
            "event_id": f"e{self.serial}",
            "case_id": case,
            "type": typ,
            "occurred_at": stamp(time.time() if at is None else at),
            **fields,
        }
        result = self.emitter.send(obj)
        assert result.ok, result.error
        self.sent.append(obj)

    def expected(self, pack_path: Path, until: int) -> list[dict]:
        data = b"".join(orjson.dumps(o) + b"\n" for o in self.sent)
        out = io.BytesIO()
        replay_file(load_pack(pack_path), io.BytesIO(data), until, out, io.BytesIO())
        return [orjson.loads(x) for x in out.getvalue().splitlines()]


def future_pack() -> Path:
    """The sample pack, tolerating events stamped years ahead of their arrival, for ``future_history``: its
    events are stamped next week and judged now so that the wall clock proves nothing during a test, and
    contract §7.8 would otherwise refuse them all as future-stamped."""
    path = Path(tempfile.gettempdir()) / f"am-future-pack-{os.getpid()}.yaml"
    if not path.exists():
        path.write_text(SAMPLE_PACK.read_text() + "\nfuture_tolerance_seconds: 100000000\n")
    return path


def future_history(cases: int) -> list[bytes]:
    """Simulated lines, starting next week, in application order (the order live applies them); judge them
    live with ``future_pack()``."""
    monday = datetime.now(UTC).date() + timedelta(days=7 - datetime.now(UTC).weekday() + 7)
    start = int(datetime(monday.year, monday.month, monday.day, 1, 0, tzinfo=UTC).timestamp())  # 09:00 in Shanghai
    lines = list(
        simulate_lines(load_pack(SAMPLE_PACK), Scenario(cases=cases, start=start, seed=11, noise=0.04, abandon=0))
    )
    keyed = []
    for i, line in enumerate(lines):
        got = parse_line(line, i)
        keyed.append(((got.t, i) if isinstance(got, Event) else (0, i), line))
    keyed.sort(key=lambda kv: kv[0])
    return [line for _, line in keyed]


def line_object(line: bytes) -> object:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return line  # the emitter refuses what is not a JSON object


def proven_records(lines: list[bytes]) -> list[dict]:
    """Replay's records that the events themselves prove: those before each case's last event.

    The history lies in the future, so live raises nothing on the wall clock;
    a case whose completion was lost to noise keeps timers that only time will fire.
    """
    out = io.BytesIO()
    replay_file(load_pack(SAMPLE_PACK), io.BytesIO(b"\n".join(lines) + b"\n"), 4102444800, out, io.BytesIO())
    last: dict[str, int] = {}
    for i, line in enumerate(lines):
        got = parse_line(line, i)
        if isinstance(got, Event):
            last[got.case_id] = max(last.get(got.case_id, got.t), got.t)
    records = [orjson.loads(x) for x in out.getvalue().splitlines()]
    immediate = {"procedure", "fee"}
    return [
        r
        for r in records
        if parse_instant(r["at"]) < last[r["case_id"]]
        or (r["kind"] in immediate and parse_instant(r["at"]) <= last[r["case_id"]])
    ]


def wait_judged(bootstrap: str, names: Names, timeout: float = 60) -> None:
    """Until the worker has judged everything on the events topic now: its group's committed offsets, which it
    commits from its read positions once a second, reach the topic's ends."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        tps = [TopicPartition(names.events, p) for p in range(names.partitions)]
        ends = consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = admin.list_group_offsets({names.app_id: None}).get(names.app_id, {})
            if all(end == 0 or (tp in done and done[tp].offset >= end) for tp, end in ends.items()):
                return
            time.sleep(0.2)
        raise AssertionError(f"the worker did not judge {names.events} up to {ends} within {timeout}s")
    finally:
        consumer.close()
        admin.close()


def past_history(now: int) -> list[dict[str, Any]]:
    """Thirty cases submitted four months ago, a third abandoned mid-way; events in application order."""
    pack = load_pack(SAMPLE_PACK)
    scenario = Scenario(cases=30, start=now - 120 * 86400, seed=21, noise=0.0, abandon=0.35, case_prefix="E")
    keyed = []
    for i, line in enumerate(simulate_lines(pack, scenario)):
        got = parse_line(line, i)
        assert isinstance(got, Event)
        keyed.append(((got.t, i), orjson.loads(line)))
    keyed.sort(key=lambda kv: kv[0])
    assert keyed[-1][0][0] < now - 30 * 86400  # every clock long past its last level
    return [obj for _, obj in keyed]


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """The app on a real HTTP server on loopback, in a thread of this process."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
