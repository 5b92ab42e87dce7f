"""The live pipeline through real Kafka: throughput, record lateness, memory per open step (on demand).

    .venv/bin/python bench/live_bench.py --steps 100000

1. Throughput: ``--events`` simulated events (a future history, so the wall clock
   raises nothing) are put on the events topic first; then one worker starts and
   the clock runs until its committed offsets reach the end of the topic.
2. Lateness: ``--steps`` cases each start a 120-second step, stamped so that the
   deadlines spread over a minute that begins after loading ends.  Each overdue
   record's lateness is Kafka's timestamp of the record minus (``at`` + grace).
3. Memory: the worker's resident memory with all those steps open, per step.

Kafka is started from its jars (deploy/kafka.sh) unless KAFKA_BOOTSTRAP_SERVERS is set.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import orjson
import typer
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from support import kafka_broker  # noqa: E402
from support.live import Names, Worker, future_pack  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from engine import engine  # noqa: E402
from kafka_ceiling import aiokafka_ceiling  # noqa: E402

from approval_monitor.packs import load_pack  # noqa: E402
from approval_monitor.simulate import Scenario, simulate_lines  # noqa: E402
from rules.timeutil import format_instant, parse_instant  # noqa: E402
from streams.config import Kafka  # noqa: E402
from streams.topics import ensure_topics  # noqa: E402

GRACE = 1
PACK = """
version: 1
penalties: {overdue: 2}
items:
  - code: bench
    steps:
      - {name: accept, limit_hours: 0.0333333333333333333}   # 120 s
"""


def _producer(bootstrap: str) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20, batch_size=256 * 1024)


def _end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or [])]
    ends = {tp.partition: off for tp, off in c.end_offsets(tps).items()}
    c.close()
    return ends


def _committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
    finally:
        admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _wait_caught_up(bootstrap: str, names: Names, timeout: float) -> float:
    ends = _end_offsets(bootstrap, names.events)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = _committed(bootstrap, names.app_id, names.events)
        if all(done.get(p, 0) >= end for p, end in ends.items()):
            return time.monotonic()
        time.sleep(0.25)
    raise RuntimeError("the worker did not catch up in time")


def _load_history(bootstrap: str, names: Names, n_events: int) -> int:
    """A simulated history a month ahead on the events topic: only its events raise records."""
    start = int(time.time()) + 30 * 86400
    ensure_topics(names.topics(), Kafka(bootstrap))
    producer = _producer(bootstrap)
    sent = 0
    lines = simulate_lines(load_pack(future_pack()), Scenario(cases=n_events // 10, start=start, noise=0.0, abandon=0))
    for line in lines:
        obj = orjson.loads(line)
        producer.send(names.events, key=str(obj["case_id"]).encode(), value=line)
        sent += 1
    producer.flush()
    producer.close()
    return sent


def worker_run(bootstrap: str, events_topic: str, tmp: Path) -> tuple[float, float]:
    """(seconds, RSS MiB) for a fresh worker (its own app id and outputs) to judge the whole events topic."""
    names = Names(partitions=8)
    names.events = events_topic
    ensure_topics(names.topics(), Kafka(bootstrap))
    worker = Worker(
        names.env(bootstrap, future_pack(), GRACE) | {"APPROVAL_MONITOR_PARTITIONS": "8"}, tmp / f"{names.app_id}.log"
    ).start()
    worker.wait_ready(timeout=120)
    t0 = time.monotonic()
    t1 = _wait_caught_up(bootstrap, names, timeout=1800)
    rss = _rss_mib(worker.proc.pid) if worker.proc else float("nan")
    worker.kill()
    return t1 - t0, rss


def throughput(bootstrap: str, n_events: int, rounds: int, tmp: Path) -> None:
    """The worker and the aiokafka ceiling on the same topic, interleaved, ``rounds`` times each."""
    names = Names(partitions=8)
    sent = _load_history(bootstrap, names, n_events)
    out = Names(partitions=8)
    ensure_topics(out.topics(), Kafka(bootstrap))
    worker_rates, ceiling_rates = [], []
    for r in range(rounds):
        seconds, rss = worker_run(bootstrap, names.events, tmp)
        worker_rates.append(sent / seconds)
        print(f"round {r + 1}: worker {sent:,} events in {seconds:.1f}s = {sent / seconds:,.0f}/s (RSS {rss:.0f} MiB)")
        n, c_seconds = aiokafka_ceiling(bootstrap, names.events, names.partitions, out.records)
        ceiling_rates.append(n / c_seconds)
        print(
            f"round {r + 1}: aiokafka ceiling {n:,} in {c_seconds:.1f}s = {n / c_seconds:,.0f}/s; "
            f"ratio {worker_rates[-1] / ceiling_rates[-1]:.2f}",
            flush=True,
        )
    w, c = statistics.median(worker_rates), statistics.median(ceiling_rates)
    print(
        f"throughput (median of {rounds}): worker {w:,.0f} events/s, aiokafka ceiling {c:,.0f}/s, "
        f"worker / ceiling = {w / c:.2f}"
    )


def lateness(bootstrap: str, steps: int, tmp: Path) -> dict[str, float]:
    names = Names(partitions=8)
    pack_path = tmp / "bench.yaml"  # one level per step: only overdue records, one per step
    pack_path.write_text(PACK)
    worker = Worker(
        names.env(bootstrap, pack_path, GRACE) | {"APPROVAL_MONITOR_PARTITIONS": "8"}, tmp / "late.log"
    ).start()
    worker.wait_ready(timeout=120)
    assert worker.proc is not None
    base_rss = _rss_mib(worker.proc.pid)
    load_seconds = max(20.0, steps / 4000)  # loading must end before the first deadline
    first_deadline = time.time() + load_seconds + 10
    producer = _producer(bootstrap)
    for i in range(steps):
        deadline = first_deadline + 60 * i / steps
        stamp = format_instant(int(deadline) - 120)
        case = f"L{i:07d}"
        for n, obj in enumerate(
            (
                {"case_id": case, "type": "case_submitted", "item_code": "bench", "agency_id": "city/bench"},
                {"case_id": case, "type": "step_started", "step": "accept"},
            )
        ):
            full = {"event_id": f"{case}-{n}", **obj, "occurred_at": stamp}
            producer.send(names.events, key=case.encode(), value=orjson.dumps(full))
    producer.flush()
    producer.close()
    loaded_at = time.time()
    _wait_caught_up(bootstrap, names, timeout=1800)
    open_rss = _rss_mib(worker.proc.pid)
    # Wait until the last deadline has passed, then read every overdue record with its Kafka timestamp.
    time.sleep(max(0.0, first_deadline + 60 + GRACE + 15 - time.time()))
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, consumer_timeout_ms=3000)
    tps = [TopicPartition(names.records, p) for p in sorted(consumer.partitions_for_topic(names.records) or [])]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    late = []
    for m in consumer:
        rec = orjson.loads(m.value)
        if rec["kind"] == "overdue":
            late.append(m.timestamp / 1000 - (parse_instant(rec["at"]) + GRACE))
    consumer.close()
    worker.kill()
    late.sort()
    q = statistics.quantiles(late, n=100) if len(late) > 100 else [float("nan")] * 99
    return {
        "records": len(late),
        "p50": q[49],
        "p99": q[98],
        "max": late[-1] if late else float("nan"),
        "loaded_after_s": loaded_at - (first_deadline - load_seconds - 10),
        "rss_base_mib": base_rss,
        "rss_open_mib": open_rss,
        "kib_per_step": (open_rss - base_rss) * 1024 / steps,
    }


def main(
    events: Annotated[int, typer.Option(help="Events for the throughput run.")] = 200_000,
    steps: Annotated[int, typer.Option(help="Open steps for the lateness and memory run.")] = 100_000,
    rounds: Annotated[int, typer.Option(help="Interleaved runs of the worker and of the ceiling.")] = 3,
) -> None:
    print(f"engine: {engine()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="am-live-bench-") as tmp_s:
        tmp = Path(tmp_s)
        with kafka_broker(tmp) as bootstrap:
            if events:
                throughput(bootstrap, events, rounds, tmp)
            if not steps:
                return
            m = lateness(bootstrap, steps, tmp)
            print(
                f"lateness after at + grace over {m['records']:,} overdue records with {steps:,} open steps: "
                f"p50 {m['p50']:.3f}s, p99 {m['p99']:.3f}s, max {m['max']:.3f}s"
            )
            print(
                f"memory: worker RSS {m['rss_base_mib']:.0f} MiB idle, "
                f"{m['rss_open_mib']:.0f} MiB with {steps:,} open steps "
                f"= {m['kib_per_step']:.2f} KiB per open step"
            )


if __name__ == "__main__":
    typer.run(main)
