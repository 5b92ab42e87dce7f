"""Sink throughput through real Kafka into a store (on demand).

    .venv/bin/python bench/sink_bench.py --cases 20000 [--stores sqlite,elasticsearch]

A simulated history on the sample pack is judged by the engine (as the worker
would) and its records and final case states are put on the records topic and
the state changelog first; then ``approval-monitor sink`` starts and the clock
runs until the store holds every record and every case document.  The figure
is messages (records + states) per second, per store, in one run on the same
topics' contents.  Kafka is started from its jars (deploy/kafka.sh) unless
KAFKA_BOOTSTRAP_SERVERS is set; Elasticsearch from its jars
(deploy/elasticsearch.sh) unless ELASTICSEARCH_URL is set.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from kafka import KafkaProducer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from support import elasticsearch, kafka_broker  # noqa: E402
from support.live import Names, Worker  # noqa: E402

from approval_monitor.packs import load_pack  # noqa: E402
from approval_monitor.simulate import Scenario, simulate_lines  # noqa: E402
from rules.engine import Engine, state_to_json  # noqa: E402
from rules.events import Event, parse_line  # noqa: E402
from rules.records import Record  # noqa: E402
from rules.replay import Replayer  # noqa: E402
from store.factory import StoreConfig, open_store  # noqa: E402
from streams.config import Kafka  # noqa: E402
from streams.topics import ensure_topics  # noqa: E402

PACK = ROOT / "rules" / "packs" / "cn-gov-2026.yaml"


def history(cases: int) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    pack = load_pack(PACK)
    events = [e for i, line in enumerate(simulate_lines(pack, Scenario(cases=cases, seed=3, noise=0.0)), 1)
              if isinstance(e := parse_line(line, i), Event)]  # fmt: skip
    events.sort(key=lambda e: (e.t, e.seq))
    until = events[-1].t + 1
    records: list[dict[str, Any]] = []
    rp = Replayer(Engine(pack), lambda o: records.append(o.to_json()) if isinstance(o, Record) else None, 10**9)
    rp.run(events, until)
    return records, {cid: state_to_json(st) for cid, st in rp.cases.items()}


def count(store_url: str, prefix: str) -> tuple[int, int]:
    config = StoreConfig(url=store_url, prefix=prefix)

    async def go() -> tuple[int, int]:
        store: Any = open_store(config)
        try:
            return await store.count()
        finally:
            await store.close()

    return asyncio.run(go())


def main(
    cases: Annotated[int, typer.Option(help="simulated cases")] = 20000,
    stores: Annotated[str, typer.Option(help="comma-separated: sqlite, elasticsearch")] = "sqlite,elasticsearch",
) -> None:
    records, states = history(cases)
    print(f"{len(records):,} records, {len(states):,} case states")
    rates = {}
    with tempfile.TemporaryDirectory(prefix="am-sink-bench-", ignore_cleanup_errors=True) as tmp_:
        tmp = Path(tmp_)
        (tmp / "kafka").mkdir()
        with kafka_broker(tmp / "kafka") as bootstrap:
            for store in stores.split(","):
                if store == "sqlite":
                    rates[store] = run(bootstrap, tmp, f"sqlite:///{tmp / 'sink.db'}", "", store, records, states)
                else:
                    (tmp / "es").mkdir()
                    with elasticsearch(tmp / "es") as node:
                        rates[store] = run(bootstrap, tmp, node.url, f"bench{int(time.time())}", store, records,
                                           states)  # fmt: skip
    if len(rates) == 2:
        print(f"elasticsearch / sqlite: {rates['elasticsearch'] / rates['sqlite']:.2f}")


def run(
    bootstrap: str,
    tmp: Path,
    store_url: str,
    prefix: str,
    store: str,
    records: list[dict[str, Any]],
    states: dict[str, dict[str, Any]],
) -> float:
    names = Names(partitions=8)
    topics = names.topics()
    ensure_topics(topics, Kafka(bootstrap))
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20, batch_size=256 * 1024)
    for r in records:
        producer.send(names.records, key=r["case_id"].encode(), value=orjson.dumps(r))
    for cid, st in states.items():
        producer.send(topics.cases_changelog, key=cid.encode(), value=orjson.dumps(st))
    producer.flush()
    producer.close()
    env = names.env(bootstrap, PACK) | {
        "APPROVAL_MONITOR_STORE_URL": store_url,
        "APPROVAL_MONITOR_STORE_PREFIX": prefix,
        "APPROVAL_MONITOR_PARTITIONS": "8",
    }
    sink = Worker(env, tmp / "sink.log").start("sink")
    t0 = time.monotonic()
    want = (len(records), len(states))
    got = (0, 0)
    first = None
    while got != want:
        time.sleep(0.5)
        assert sink.proc is not None and sink.proc.poll() is None, sink.tail()
        got = count(store_url, prefix)
        if first is None and sum(got):
            first = (time.monotonic(), sum(got))
        if time.monotonic() - t0 > 1800:
            raise SystemExit(f"the sink did not finish: {got} of {want}")
    dt = time.monotonic() - t0
    sink.kill()
    total = len(records) + len(states)
    assert first is not None
    steady = (total - first[1]) / (t0 + dt - first[0])
    print(
        f"sink into {store}: {total:,} messages in {dt:.1f} s from start = {total / dt:,.0f} messages/s; "
        f"{steady:,.0f} messages/s once writing"
    )
    return steady


if __name__ == "__main__":
    typer.run(main)
