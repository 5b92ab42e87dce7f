"""Can the sink on the embedded store keep up with one worker?  Both measured on the same messages, in one run.

    .venv/bin/python bench/sink_vs_worker.py --events 200000 --rounds 3

A simulated history (a month ahead: only its events raise records) is put on
the events topic; one worker judges it, and its output — every record and every
case state it wrote to the changelog — is counted: the worker's output rate is
those messages over the time it took (from ready to caught up).  Then
``approval-monitor sink`` indexes exactly those messages into a fresh SQLite
file: its rate is the same count over the time from its first write to the
store holding every record and every case.  The ratio sink / worker is the
figure: at or above 1 the embedded default keeps up with a worker at full load.
Each round runs on topics of its own; the median of the rounds is the figure
(the machine is shared: one pair of runs can land on a busy moment).

Kafka is started from its jars (deploy/kafka.sh) unless KAFKA_BOOTSTRAP_SERVERS is set.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
from engine import engine  # noqa: E402
from live_bench import _end_offsets, _load_history, _wait_caught_up  # noqa: E402
from sink_bench import count  # noqa: E402
from support import kafka_broker  # noqa: E402
from support.live import Names, Worker, future_pack  # noqa: E402

from streams.topic_reader import read_to_end  # noqa: E402

GRACE = 1


def one_round(bootstrap: str, tmp: Path, events: int) -> float:
    """A worker, then a sink on its output; the ratio of their rates."""
    names = Names(partitions=8)
    sent = _load_history(bootstrap, names, events)
    env = names.env(bootstrap, future_pack(), GRACE) | {"APPROVAL_MONITOR_PARTITIONS": "8"}
    worker = Worker(env, tmp / "worker.log").start()
    worker.wait_ready(timeout=120)
    t0 = time.monotonic()
    worker_seconds = _wait_caught_up(bootstrap, names, timeout=1800) - t0
    worker.kill()
    records = sum(_end_offsets(bootstrap, names.records).values())
    states = sum(_end_offsets(bootstrap, names.topics().cases_changelog).values())
    cases = len({m.key for m in read_to_end(bootstrap, names.topics().cases_changelog, 120)})
    out = records + states
    print(
        f"worker: {sent:,} events in {worker_seconds:.1f}s; wrote {records:,} records and {states:,} "
        f"states ({cases:,} cases) = {out / worker_seconds:,.0f} messages/s",
        flush=True,
    )
    store_url = f"sqlite:///{tmp / f'sink-{names.events}.db'}"
    sink = Worker(env | {"APPROVAL_MONITOR_STORE_URL": store_url}, tmp / "sink.log").start("sink")
    first: float | None = None
    while (got := count(store_url, "")) != (records, cases):
        assert sink.proc is not None and sink.proc.poll() is None, sink.tail()
        if first is None and sum(got):
            first = time.monotonic()
        time.sleep(0.2)
    sink_seconds = time.monotonic() - (first or time.monotonic())
    sink.kill()
    ratio = worker_seconds / sink_seconds
    print(
        f"sink into SQLite: the same {out:,} messages in {sink_seconds:.1f}s once writing = "
        f"{out / sink_seconds:,.0f} messages/s; sink / worker = {ratio:.2f}",
        flush=True,
    )
    return ratio


def main(
    events: Annotated[int, typer.Option(help="Events of the simulated history.")] = 200_000,
    rounds: Annotated[int, typer.Option(help="Worker-then-sink rounds, each on topics of its own.")] = 3,
) -> None:
    print(f"engine: {engine()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="am-sink-vs-worker-", ignore_cleanup_errors=True) as tmp_s:
        tmp = Path(tmp_s)
        with kafka_broker(tmp) as bootstrap:
            ratios = [one_round(bootstrap, tmp, events) for _ in range(rounds)]
    print(f"sink / worker by round: {', '.join(f'{r:.2f}' for r in ratios)}; median {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    typer.run(main)
