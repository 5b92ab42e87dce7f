"""Webhook delivery throughput through real Kafka to a loopback receiver (on demand).

    .venv/bin/python bench/webhook_bench.py --records 5000 --subscriptions 4

Subscriptions are made first (so they start at the records topic's end), then
``--records`` records go onto the records topic, then ``approval-monitor
webhooks`` starts and the clock runs until the receiver has every record for
every subscription.  The receiver is an aiohttp server in its own process that
answers 204 at once, so the figure is the deliverer's: signing, one POST in
flight per subscription, logging each outcome to Kafka and committing the
position.  Kafka is started from its jars (deploy/kafka.sh) unless
KAFKA_BOOTSTRAP_SERVERS is set.
"""

from __future__ import annotations

import multiprocessing
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import orjson
import typer
from kafka import KafkaProducer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from support import kafka_broker  # noqa: E402
from support.live import Names, Worker  # noqa: E402

from approval_monitor.embedded import free_port  # noqa: E402
from streams.config import Kafka  # noqa: E402
from streams.subscriptions import Subscription, SubscriptionLog, new_id, new_secret, now_text  # noqa: E402
from streams.topics import ensure_topics  # noqa: E402

PACK = ROOT / "rules" / "packs" / "cn-gov-2026.yaml"


def receiver(port: int, counter: multiprocessing.Value) -> None:  # type: ignore[valid-type]
    from aiohttp import web

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        with counter.get_lock():
            counter.value += 1
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook/{n}", hook)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def main(
    records: Annotated[int, typer.Option(help="Records put on the records topic.")] = 5000,
    subscriptions: Annotated[int, typer.Option(help="Subscriptions, each taking every record.")] = 4,
) -> None:
    with tempfile.TemporaryDirectory() as tmp, kafka_broker(Path(tmp)) as bootstrap:
        names = Names(partitions=8)
        ensure_topics(names.topics(), Kafka(bootstrap))
        port = free_port()
        counter = multiprocessing.Value("q", 0)
        server = multiprocessing.Process(target=receiver, args=(port, counter), daemon=True)
        server.start()
        log = SubscriptionLog(bootstrap, names.subscriptions, names.records)
        for n in range(subscriptions):
            log.create(Subscription(id=new_id(), url=f"http://127.0.0.1:{port}/hook/{n}", secret=new_secret(),
                                    created_at=now_text(), created_by="bench"))  # fmt: skip
        log.close()
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20)
        for i in range(records):
            r = {"id": f"r{i:08d}", "kind": "overdue", "case_id": f"C{i % 997}", "step": "review",
                 "at": "2026-11-21T02:00:00Z", "item_code": "land-use", "agency_id": "city/land",
                 "handler_id": "h1", "points": 2}  # fmt: skip
            producer.send(names.records, key=r["case_id"].encode(), value=orjson.dumps(r))
        producer.flush()
        producer.close()
        env = {**names.env(bootstrap, PACK), "APPROVAL_MONITOR_PARTITIONS": "8", "APPROVAL_MONITOR_LOG_FORMAT": "text"}
        deliverer = Worker(env, Path(tmp) / "webhooks.log").start("webhooks")
        want = records * subscriptions
        t0 = time.monotonic()
        first: tuple[float, int] | None = None
        while (got := counter.value) < want:
            time.sleep(0.2)
            assert deliverer.proc is not None and deliverer.proc.poll() is None, deliverer.tail()
            if first is None and got:
                first = (time.monotonic(), got)
            if time.monotonic() - t0 > 1800:
                raise SystemExit(f"not done: {got} of {want}")
        end = time.monotonic()
        deliverer.kill()
        server.kill()
        assert first is not None
        steady = (want - first[1]) / (end - first[0])
        print(
            f"webhooks: {want:,} deliveries ({records:,} records x {subscriptions} subscriptions) in "
            f"{end - t0:.1f} s from start; {steady:,.0f} deliveries/s once delivering, "
            f"{steady / subscriptions:,.0f}/s per subscription"
        )


if __name__ == "__main__":
    typer.run(main)
