"""The main job on one machine: broker, worker, a live feed of cases, and the alerts as they are raised.

Without ``KAFKA_BOOTSTRAP_SERVERS`` it starts the embedded broker (memory only);
with it, it uses that cluster but its own ``demo.``-prefixed topics and app id,
so a demo never writes into production topics.  The feed is the simulator on
the demo pack (limits of seconds, natural time), sent in real time: events are
stamped with the wall clock as they are emitted, so reminders, warnings and
overdue alarms appear within a minute.
"""

from __future__ import annotations

import dataclasses
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition
from rich.cells import cell_len
from rich.console import Console

from api.auth import hash_key
from approval_monitor.embedded import EmbeddedBroker, free_port
from approval_monitor.packs import load_pack
from approval_monitor.settings import DEMO_PACK, KafkaSettings
from approval_monitor.simulate import Scenario, simulate_lines
from rules.events import Event, parse_line
from rules.timeutil import parse_instant
from streams.config import Topics
from streams.emitter import Emitter
from streams.topics import ensure_topics
from streams.webhook_secrets import new_key

LABELS = {
    "reminder": ("催办 reminder", "cyan"),
    "warning": ("临界预警 warning", "yellow"),
    "overdue": ("超时 overdue", "red"),
    "case_overdue": ("办件超时 case overdue", "bold red"),
    "procedure": ("程序违规 procedure", "magenta"),
    "fee": ("超标收费 fee", "magenta"),
    "suspension": ("超期挂起 suspension", "dark_orange"),
    "revocation": ("撤销 revocation", "dim"),
}


def demo_topics(topics: Topics) -> Topics:
    """The demo's own topics and consumer groups, beside any real ones on the same cluster."""
    return dataclasses.replace(
        topics,
        app_id=f"{topics.app_id}-demo",
        events=f"demo.{topics.events}",
        ticks=f"demo.{topics.ticks}",
        actions=f"demo.{topics.actions}",
        records=f"demo.{topics.records}",
        rejected=f"demo.{topics.rejected}",
        subscriptions=f"demo.{topics.subscriptions}",
        deliveries=f"demo.{topics.deliveries}",
        dead_letter=f"demo.{topics.dead_letter}",
        partitions=4,
    )


def _feed(bootstrap: str, topics: Topics, per_minute: float, stop: threading.Event, console: Console) -> None:
    pack = load_pack(DEMO_PACK)
    start = int(time.time()) + 2
    # A demo must show overdue alarms within a minute: steps run late often; some are sent back (退回) or
    # extended (延期), so the page shows cycles and extensions too.
    scenario = Scenario(
        cases=100_000, start=start, per_hour=per_minute * 60, seed=random.randrange(1 << 30), noise=0.01, late=0.4,
        rework=0.08, extend=0.25,
    )  # fmt: skip
    refused = 0
    with Emitter(bootstrap, topics.events) as emitter:
        for line in simulate_lines(pack, scenario):
            got = parse_line(line, 0)
            if isinstance(got, Event):
                while (wait := got.t - time.time()) > 0:
                    if stop.wait(min(wait, 0.5)):
                        return
            if stop.is_set():
                return
            try:
                obj: object = orjson.loads(line)
            except orjson.JSONDecodeError:
                obj = line
            if not emitter.send(obj).ok:
                refused += 1
                console.print(f"[dim]feed: a malformed event was refused before sending ({refused} so far)[/dim]")


def _tail(bootstrap: str, topic: str, stop: threading.Event, console: Console, seen: list[dict[str, object]]) -> None:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        parts = None
        while not parts and not stop.is_set():
            parts = consumer.partitions_for_topic(topic)
            time.sleep(0.2)
        tps = [TopicPartition(topic, p) for p in sorted(parts or [])]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        while not stop.is_set():
            for batch in consumer.poll(timeout_ms=300).values():
                for msg in batch:
                    rec = orjson.loads(msg.value)
                    seen.append(rec)
                    label, style = LABELS.get(str(rec["kind"]), (str(rec["kind"]), "white"))
                    lag = time.time() - parse_instant(str(rec["at"]))
                    step = f" step {rec['step']}" if rec.get("step") else ""
                    pad = " " * max(1, 24 - cell_len(label))
                    console.print(
                        f"[{style}]{label}[/{style}]{pad}case {rec['case_id']}{step}  {rec['agency_id']}"
                        f"  at {str(rec['at'])[11:19]}Z  (+{lag:.1f}s)  points {rec['points']}",
                        highlight=False,
                    )
    finally:
        consumer.close()


# Seconds each child may take to stop after SIGTERM, by start order (worker, sink, deliverer, API); stopped in the
# reverse order, they add up, with the broker's second, to under 5 s.
STOP_SECONDS = (1.5, 1.0, 0.6, 0.6)


def _stop_child(child: subprocess.Popen[bytes], seconds: float) -> bool:
    """SIGTERM, then SIGKILL after ``seconds``; whether it had to be killed."""
    if child.poll() is not None:
        return False
    child.terminate()
    try:
        child.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
        return True


def _interrupt(signum: int, frame: object) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):  # a second signal must not cut the orderly stop short
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt


def run_demo(workdir: Path, duration: float | None, per_minute: float) -> list[dict[str, object]]:
    console = Console()
    kafka_settings = KafkaSettings()
    given = kafka_settings.kafka_bootstrap_servers
    topics = demo_topics(kafka_settings.topics())
    workdir.mkdir(parents=True, exist_ok=True)
    broker = None
    children: list[subprocess.Popen[bytes]] = []
    stop = threading.Event()
    seen: list[dict[str, object]] = []
    threads: list[threading.Thread] = []
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        # kill -TERM stops everything as Ctrl-C does; SIGINT too when started with it ignored (`cmd &` in a script)
        previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if given:
            bootstrap = given
            console.print(f"Kafka: {bootstrap} (KAFKA_BOOTSTRAP_SERVERS), demo topics {topics.events} …")
        else:
            # The embedded broker keeps nothing across restarts, so neither does the store: a store from an earlier
            # run would show its cases overdue forever, their completions gone with that broker.
            for old in workdir.glob("monitor.db*"):
                old.unlink()
            shutil.rmtree(workdir / "faust", ignore_errors=True)  # RocksDB tables of that broker's changelogs
            broker = EmbeddedBroker(workdir / "broker.log")
            bootstrap = broker.start()
            console.print(
                f"Embedded Kafka-compatible broker (tansu, memory only: nothing survives a restart) on {bootstrap}."
                " Production uses Kafka: set KAFKA_BOOTSTRAP_SERVERS."
            )
        ensure_topics(topics, kafka_settings.kafka(bootstrap))
        env = {
            **os.environ,
            **KafkaSettings.env_for(topics),
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "APPROVAL_MONITOR_RULES": str(DEMO_PACK),
            "APPROVAL_MONITOR_GRACE_SECONDS": "1",
        }
        env.setdefault("APPROVAL_MONITOR_STATE_DIR", str((workdir / "faust").resolve()))
        # One machine: webhook secrets sealed with a key of this run, receivers on this machine allowed.
        env.setdefault("APPROVAL_MONITOR_WEBHOOK_SECRET_KEY", new_key())
        env.setdefault("APPROVAL_MONITOR_WEBHOOK_ALLOW_NETWORKS", '["127.0.0.0/8", "::1/128"]')
        key = secrets.token_urlsafe(18)
        port = free_port()
        env.update(
            {
                "APPROVAL_MONITOR_STORE_URL": f"sqlite:///{(workdir / 'monitor.db').resolve()}",
                "APPROVAL_MONITOR_API_PORT": str(port),
                "APPROVAL_MONITOR_API_KEYS": orjson.dumps(
                    [{"name": "demo", "sha256": hash_key(key), "role": "admin", "scope": None}]
                ).decode(),
            }
        )
        for name in ("worker", "sink", "webhooks", "api"):
            log = open(workdir / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
            args = [sys.executable, "-m", "approval_monitor", name] + ([] if name == "api" else ["--loglevel", "info"])
            # Own sessions: Ctrl-C in the terminal reaches this process only, which stops the children in order.
            children.append(
                subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            )
        worker = children[0]
        console.print(
            f"Faust worker, sink, webhook deliverer and API started (logs in {workdir}); "
            f"feeding {per_minute:g} cases a minute on {DEMO_PACK.name}."
        )
        console.print(f"Page (监察看板): [bold]http://127.0.0.1:{port}/[/bold]", highlight=False)
        console.print(
            f"API: http://127.0.0.1:{port}/docs — key for this run: [bold]{key}[/bold]"
            f" (e.g. curl -H 'Authorization: Bearer {key}' http://127.0.0.1:{port}/v1/overdue);"
            f" store: {workdir / 'monitor.db'}",
            highlight=False,
        )
        console.print("Alerts as they are raised — Ctrl-C to stop:\n")
        threads = [
            threading.Thread(target=_feed, args=(bootstrap, topics, per_minute, stop, console), daemon=True),
            threading.Thread(target=_tail, args=(bootstrap, topics.records, stop, console, seen), daemon=True),
        ]
        for t in threads:
            t.start()
        deadline = None if duration is None else time.monotonic() + duration
        while deadline is None or time.monotonic() < deadline:
            if worker.poll() is not None:
                console.print(f"[red]the worker exited with {worker.returncode}; see {workdir / 'worker.log'}[/red]")
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        console.print("\nstopping …")
    finally:
        began = time.monotonic()
        stop.set()
        for t in threads:
            t.join(timeout=1)
        # The feed first, then whoever reads what the next one writes: API, deliverer, sink, worker; the broker
        # last, so nobody is left talking to a broker that is gone.  Within 5 s: a child still running at its turn's
        # end is killed, which the pipeline survives by design (at-least-once, positions kept with the state).
        forced = [_stop_child(child, STOP_SECONDS[i]) for i, child in reversed(list(enumerate(children)))]
        if broker is not None:
            broker.stop(timeout=1.0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        kinds: dict[str, int] = {}
        for rec in seen:
            kinds[str(rec["kind"])] = kinds.get(str(rec["kind"]), 0) + 1
        took = time.monotonic() - began
        console.print(
            f"\nstopped in {took:.1f}s{' (' + str(sum(forced)) + ' killed)' if any(forced) else ''}; "
            f"{len(seen)} records raised ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items())) or 'none'})."
            f" Logs and the SQLite store: {workdir}. Records were on topic {topics.records}"
            + (" of the embedded broker, now gone." if broker is not None else f" at {given}.")
        )
    return seen
