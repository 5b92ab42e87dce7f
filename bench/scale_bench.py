"""A worker holding a million open steps: memory, restart to the first timer, lateness under mixed load (on demand).

    .venv/bin/python bench/scale_bench.py --cases 1000000 --stores memory,rocksdb

For each table store (``APPROVAL_MONITOR_TABLE_STORE``), one worker through real Kafka:

1. **Load**: ``--cases`` cases, each submitted and its step started (two events),
   their deadlines ten days ahead, are put on the events topic first; the worker
   starts and judges them all.  Its rate is the worker's maximum rate; its
   resident memory with every step open, less its memory when it was ready,
   divided by the steps, is the memory per open step.
2. **Restart**: ``--sentinels`` more cases whose steps fall due five seconds
   later are judged; the worker is SIGKILLed at once and started again.  The
   figure is the time from the restart to the first of their overdue records on
   the records topic: how long a restarted worker holding every case takes to
   fire timers again.
3. **Mixed load**: ``--timed`` steps falling due spread over a minute are
   judged first; then a steady input of new cases at ``--share`` of the maximum
   rate runs for ``--seconds``, and the steps fall due within it.  Lateness of
   a timer is the Kafka timestamp of its overdue record minus (its instant +
   grace): timers that wait behind events show here.

Kafka is started from its jars (deploy/kafka.sh) unless KAFKA_BOOTSTRAP_SERVERS is set.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Annotated

import orjson
import typer
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
from engine import engine  # noqa: E402
from live_bench import _end_offsets, _rss_mib, _wait_caught_up  # noqa: E402
from support import kafka_broker  # noqa: E402
from support.live import Names, Worker  # noqa: E402

from rules.timeutil import format_instant, parse_instant  # noqa: E402
from streams.config import Kafka  # noqa: E402
from streams.topics import ensure_topics  # noqa: E402

GRACE = 1
QUICK = 120  # seconds: the step of sentinel and timed cases
PACK = """
version: 1
penalties: {overdue: 2}
items:
  - code: quick
    steps:
      - {name: accept, limit_hours: 0.0333333333333333333}   # 120 s
  - code: long
    steps:
      - {name: accept, limit_hours: 240}
"""


def _producer(bootstrap: str) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20, batch_size=512 * 1024)


def _case(producer: KafkaProducer, topic: str, case: str, item: str, started: int) -> None:
    stamp = format_instant(started)
    for n, typ in enumerate(("case_submitted", "step_started")):
        obj = {"event_id": f"{case}-{n}", "case_id": case, "type": typ, "occurred_at": stamp}
        obj |= {"item_code": item, "agency_id": "city/bench"} if n == 0 else {"step": "accept"}
        producer.send(topic, key=case.encode(), value=orjson.dumps(obj))


def _overdue(bootstrap: str, topic: str, since: dict[int, int], prefix: str) -> list[tuple[float, int]]:
    """(Kafka timestamp s, instant) of every overdue record of cases named ``prefix…`` after offsets ``since``."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, consumer_timeout_ms=3000)
    tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, since.get(tp.partition, 0))
    out = []
    for m in consumer:
        rec = orjson.loads(m.value)
        if rec["kind"] == "overdue" and rec["case_id"].startswith(prefix):
            out.append((m.timestamp / 1000, parse_instant(rec["at"])))
    consumer.close()
    return out


def _feed(bootstrap: str, topic: str, rate: float, seconds: float, stop: threading.Event) -> int:
    """New long cases at ``rate`` events per second (two events a case) for ``seconds``."""
    producer = _producer(bootstrap)
    sent, t0 = 0, time.monotonic()
    while not stop.is_set() and time.monotonic() - t0 < seconds:
        due = int((time.monotonic() - t0) * rate)
        while sent < due:
            _case(producer, topic, f"M{sent // 2:08d}", "long", int(time.time()))
            sent += 2
        time.sleep(0.01)
    producer.flush()
    producer.close()
    return sent


def run_store(bootstrap: str, store: str, cases: int, sentinels: int, timed: int, share: float, seconds: float,
              tmp: Path) -> dict[str, float]:  # fmt: skip
    names = Names(partitions=8)
    pack = tmp / "scale.yaml"
    pack.write_text(PACK)
    ensure_topics(names.topics(), Kafka(bootstrap))
    env = names.env(bootstrap, pack, GRACE) | {"APPROVAL_MONITOR_TABLE_STORE": store}
    out: dict[str, float] = {}

    # 1. Load: the backlog first, then the worker judges it at its own pace.
    producer = _producer(bootstrap)
    now = int(time.time())
    for i in range(cases):
        _case(producer, names.events, f"B{i:08d}", "long", now)
    producer.flush()
    producer.close()
    worker = Worker(env, tmp / f"{store}.log").start()
    worker.wait_ready(timeout=300)
    assert worker.proc is not None
    out["rss_ready_mib"] = _rss_mib(worker.proc.pid)
    t0 = time.monotonic()
    t1 = _wait_caught_up(bootstrap, names, timeout=7200)
    out["max_rate"] = 2 * cases / (t1 - t0)
    time.sleep(5)  # the last batch's states written, the cache settled
    out["rss_open_mib"] = _rss_mib(worker.proc.pid)
    out["kib_per_step"] = (out["rss_open_mib"] - out["rss_ready_mib"]) * 1024 / cases

    # 2. Restart: steps due five seconds after they are judged; SIGKILL at once, start again.
    since = _end_offsets(bootstrap, names.records)
    producer = _producer(bootstrap)
    due = int(time.time()) + 5
    for i in range(sentinels):
        _case(producer, names.events, f"S{i:06d}", "quick", due - QUICK)
    producer.flush()
    producer.close()
    _wait_caught_up(bootstrap, names, timeout=120)
    worker.kill()
    restarted = time.time()
    worker.start()
    worker.wait_ready(after=1, timeout=600)
    out["restart_ready_s"] = time.time() - restarted
    deadline = time.time() + 600
    fired: list[tuple[float, int]] = []
    while not fired and time.time() < deadline:
        fired = _overdue(bootstrap, names.records, since, "S")
    out["restart_first_timer_s"] = min(ts for ts, _ in fired) - restarted
    out["restart_due_s"] = due + GRACE - restarted  # the first timer could not fire before this
    _wait_caught_up(bootstrap, names, timeout=600)

    # 3. Mixed load: ``timed`` steps falling due over a minute, judged first; then a steady input at ``share`` of
    # the maximum rate, during which they fall due.
    since = _end_offsets(bootstrap, names.records)
    feed_start = time.time() + 15
    first = int(feed_start) + 20  # deadlines from 20 s into the feed, over one minute
    producer = _producer(bootstrap)
    for i in range(timed):
        at = first + 60 * i // timed
        _case(producer, names.events, f"T{i:07d}", "quick", at - QUICK)
    producer.flush()
    producer.close()
    _wait_caught_up(bootstrap, names, timeout=120)
    time.sleep(max(0.0, feed_start - time.time()))
    stop = threading.Event()
    rate = share * out["max_rate"]
    result: list[int] = []
    feeder = threading.Thread(target=lambda: result.append(_feed(bootstrap, names.events, rate, seconds, stop)))
    feeder.start()
    feeder.join()
    time.sleep(max(0.0, first + 60 + GRACE + 10 - time.time()))
    late = sorted(ts - (at + GRACE) for ts, at in _overdue(bootstrap, names.records, since, "T"))
    q = statistics.quantiles(late, n=100) if len(late) > 100 else [float("nan")] * 99
    out |= {"fed_per_s": (result[0] if result else 0) / seconds, "timed_records": len(late),
            "late_p50": q[49], "late_p99": q[98], "late_max": late[-1] if late else float("nan")}  # fmt: skip
    worker.kill()
    return out


def main(
    cases: Annotated[int, typer.Option(help="Open steps (one case each) the worker holds.")] = 1_000_000,
    stores: Annotated[str, typer.Option(help="Table stores, comma-separated: memory, rocksdb.")] = "memory,rocksdb",
    sentinels: Annotated[int, typer.Option(help="Steps due during the restart.")] = 100,
    timed: Annotated[int, typer.Option(help="Steps due during the mixed load.")] = 20_000,
    share: Annotated[float, typer.Option(help="Input rate of the mixed load, as a share of the maximum.")] = 0.5,
    seconds: Annotated[float, typer.Option(help="Length of the mixed load.")] = 120.0,
) -> None:
    print(f"engine: {engine()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="am-scale-bench-") as tmp_s:
        tmp = Path(tmp_s)
        with kafka_broker(tmp) as bootstrap:
            for store in stores.split(","):
                m = run_store(bootstrap, store, cases, sentinels, timed, share, seconds, tmp)
                print(
                    f"{store}: {cases:,} open steps; load {m['max_rate']:,.0f} events/s; "
                    f"RSS {m['rss_ready_mib']:.0f} MiB ready -> {m['rss_open_mib']:.0f} MiB = "
                    f"{m['kib_per_step']:.2f} KiB per open step; restart: ready after {m['restart_ready_s']:.1f}s, "
                    f"first timer after {m['restart_first_timer_s']:.1f}s (due after {m['restart_due_s']:.1f}s); "
                    f"mixed load {m['fed_per_s']:,.0f} events/s ({share:.0%} of the maximum): lateness over "
                    f"{m['timed_records']:,.0f} timers p50 {m['late_p50']:.3f}s, p99 {m['late_p99']:.3f}s, "
                    f"max {m['late_max']:.3f}s",
                    flush=True,
                )


if __name__ == "__main__":
    typer.run(main)
