"""API latency on SQLite and on a real Elasticsearch node with a million records, side by side (on demand).

    .venv/bin/python bench/api_bench.py --records 1000000 [--stores sqlite,elasticsearch]

Fills each store (SQLite kept under bench/out/ and reused while it has the asked-for
size; Elasticsearch started from its jars by deploy/elasticsearch.sh with its data in
bench/out/es, or ELASTICSEARCH_URL) with the same synthetic but realistically shaped
data: ``--records`` records spread
over 180 days across a three-level agency tree (6 cities x 8 bureaus x 3 sections),
800 officials and the sample pack's items, kinds in the proportions a year of
simulated cases gives, one alarm in 50 revoked; ``--cases`` case documents, a tenth
of them open and past a deadline.  Then, per store, it starts ``approval-monitor api``
as a real HTTP server and times the same sequential requests per endpoint with varied
filters, reporting p50 / p95 per store in one table.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import orjson
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.auth import hash_key  # noqa: E402
from approval_monitor.embedded import free_port  # noqa: E402
from rules.timeutil import format_instant  # noqa: E402
from store.factory import StoreConfig, open_store  # noqa: E402

END = 1_790_000_000  # 2026-09-21T14:13:20Z: the newest record; the data covers 180 days before it
SPAN = 180 * 86400
KINDS = [
    ("reminder", 0.38, 0),
    ("warning", 0.24, 0),
    ("overdue", 0.2, 2),
    ("case_overdue", 0.06, 3),
    ("procedure", 0.05, 1),
    ("fee", 0.04, 2),
    ("suspension", 0.03, 1),
]
ITEMS = ["land-use-planning", "construction-permit", "business-licence", "food-licence", "fire-check", "env-impact"]
STEPS = ["accept", "review", "approve", "deliver"]


def agencies() -> list[str]:
    return [f"prov/city{c}/bureau{b}/sec{s}" for c in range(6) for b in range(8) for s in range(3)]


def make_records(n: int, rng: random.Random) -> Any:
    ags = agencies()
    kinds = [k for k, _, _ in KINDS]
    weights = [w for _, w, _ in KINDS]
    points = {k: p for k, _, p in KINDS}
    for i in range(n):
        kind = rng.choices(kinds, weights)[0]
        ag = ags[i % len(ags)] if rng.random() < 0.5 else rng.choice(ags)
        at = END - rng.randrange(SPAN)
        step = None if kind in ("case_overdue", "fee") else rng.choice(STEPS)
        record = {
            "id": f"{i:024x}",
            "kind": kind,
            "case_id": f"C{rng.randrange(n // 4):08}",
            "step": step,
            "at": format_instant(at),
            "item_code": rng.choice(ITEMS),
            "agency_id": ag,
            "handler_id": f"h{ags.index(ag) * 5 + rng.randrange(5):04}" if rng.random() < 0.95 else None,
            "points": points[kind],
        }
        yield record
        if i % 50 == 0 and kind in ("warning", "overdue", "case_overdue"):  # a late event disproved it
            yield {**record, "id": f"r{i:023x}", "kind": "revocation", "at": format_instant(min(END, at + 3600)),
                   "handler_id": None, "points": 0, "revokes": record["id"], "revoked_kind": kind,
                   "revoked_at": record["at"]}  # fmt: skip


def make_cases(n: int, rng: random.Random) -> Any:
    ags = agencies()
    for i in range(n):
        ag = rng.choice(ags)
        submitted = END - rng.randrange(SPAN)
        open_ = rng.random() < 0.1
        steps = []
        t = submitted
        for name in STEPS[: rng.randint(1, 4)]:
            limit = rng.choice([8, 16, 24, 40]) * 3600
            deadline = t + limit + rng.randrange(86400)
            done = None if open_ and name == STEPS[len(steps)] else t + rng.randrange(limit * 2)
            steps.append(
                {
                    "step": name,
                    "started_at": format_instant(t),
                    "completed_at": None if done is None else format_instant(done),
                    "handler_id": f"h{ags.index(ag) * 5 + rng.randrange(5):04}",
                    "limit_seconds": limit,
                    "deadline": format_instant(deadline),
                    "counted_seconds": limit // 2,
                    "status": "overdue" if done is None else ("late" if done > deadline else "on_time"),
                }
            )
            if done is None:
                break
            t = done
        yield {
            "case_id": f"C{i:08}",
            "item_code": rng.choice(ITEMS),
            "item_name": "",
            "agency_id": ag,
            "handler_id": steps[-1]["handler_id"],
            "submitted_at": format_instant(submitted),
            "completed_at": None if open_ else steps[-1]["completed_at"],
            "limit_seconds": 160 * 3600,
            "deadline": format_instant(submitted + 10 * 86400),
            "counted_seconds": 0,
            "status": "overdue" if open_ else "on_time",
            "suspended_since": None,
            "suspensions": [],
            "fees_yuan": "0",
            "steps": steps,
            "as_of": format_instant(END),
        }


async def fill(url: str, prefix: str, records: int, cases: int, console: Console) -> dict[str, float]:
    store: Any = open_store(StoreConfig(url=url, prefix=prefix))
    await store.setup()
    rng = random.Random(7)
    rates = {}
    with Progress(console=console, transient=True) as progress:
        for what, total, gen, put in (
            ("records", records, make_records(records, rng), store.put_records),
            ("cases", cases, make_cases(cases, rng), store.put_cases),
        ):
            task = progress.add_task(f"writing {what}", total=total)
            t0 = time.perf_counter()
            batch: list[dict[str, Any]] = []
            for doc in gen:
                batch.append(doc)
                if len(batch) == 5000:
                    await put(batch)
                    progress.advance(task, len(batch))
                    batch = []
            if batch:
                await put(batch)
            rates[what] = total / (time.perf_counter() - t0)
    await store.refresh()
    await store.close()
    return rates


def queries(rng: random.Random) -> dict[str, list[str]]:
    ags = agencies()
    month = (format_instant(END - 30 * 86400), format_instant(END))
    out: dict[str, list[str]] = {"/v1/overdue": [], "/v1/records": [], "/v1/scorecards/agencies": []}
    out["/v1/scorecards/handlers"] = []
    out["/v1/stats/daily"] = []
    for _ in range(200):
        sub = rng.choice([None, "prov/city" + str(rng.randrange(6)), rng.choice(ags).rsplit("/", 1)[0]])
        a = f"&agency={sub}" if sub else ""
        out["/v1/overdue"].append(rng.choice(["?limit=100", f"?limit=100{a}", f"?item_code={rng.choice(ITEMS)}{a}"]))
        day = END - rng.randrange(SPAN)
        out["/v1/records"].append(
            rng.choice(
                [
                    f"?limit=100{a}",
                    f"?kind=overdue&kind=case_overdue{a}",
                    f"?case_id=C{rng.randrange(250000):08}",
                    f"?handler_id=h{rng.randrange(720):04}",
                    f"?since={format_instant(day)}&until={format_instant(day + 86400)}{a}",
                ]
            )
        )
        out["/v1/scorecards/agencies"].append(f"?since={month[0]}&until={month[1]}{a}")
        out["/v1/scorecards/handlers"].append(f"?since={month[0]}&until={month[1]}{a}")
        out["/v1/stats/daily"].append(f"?since={month[0]}&until={month[1]}{a}")
    return out


def _stored(url: str, prefix: str) -> int:
    async def go() -> int:
        store: Any = open_store(StoreConfig(url=url, prefix=prefix))
        try:
            await store.setup()
            return (await store.count())[0]
        finally:
            await store.close()

    return asyncio.run(go())


def _time(url: str, prefix: str, requests: int) -> dict[str, tuple[float, float, float]]:
    """p50, p95 (ms) and mean items per endpoint of a real API server on the store at ``url``."""
    key = "bench-key"
    port = free_port()
    env = {
        **os.environ,
        "APPROVAL_MONITOR_STORE_URL": url,
        "APPROVAL_MONITOR_STORE_PREFIX": prefix,
        "APPROVAL_MONITOR_API_PORT": str(port),
        "APPROVAL_MONITOR_API_KEYS": orjson.dumps(
            [{"name": "bench", "sha256": hash_key(key), "role": "supervisor"}]
        ).decode(),
    }
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "approval_monitor", "api"], env=env, cwd=ROOT, stderr=subprocess.DEVNULL
    )
    out = {}
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
            for _ in range(300):
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            for path, params in queries(random.Random(11)).items():
                for p in params[:10]:  # warm the caches and the connection
                    client.get(path + p).raise_for_status()
                times, sizes = [], []
                for p in params[:requests]:
                    t0 = time.perf_counter()
                    r = client.get(path + p)
                    times.append((time.perf_counter() - t0) * 1000)
                    r.raise_for_status()
                    body = r.json()
                    sizes.append(len(body["items"]) if isinstance(body, dict) else len(body))
                q = statistics.quantiles(times, n=100)
                out[path] = (q[49], q[94], statistics.mean(sizes))
    finally:
        server.terminate()
        server.wait()
    return out


def main(
    records: Annotated[int, typer.Option(help="records in the store")] = 1_000_000,
    cases: Annotated[int, typer.Option(help="case documents in the store")] = 100_000,
    requests: Annotated[int, typer.Option(help="timed requests per endpoint")] = 200,
    stores: Annotated[str, typer.Option(help="comma-separated: sqlite, elasticsearch")] = "sqlite,elasticsearch",
) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from support import elasticsearch

    console = Console(width=140)
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, tuple[float, float, float]]] = {}
    for which in stores.split(","):
        with contextlib.ExitStack() as stack:
            if which == "sqlite":
                db = out / f"api2-{records}-{cases}.db"
                url, prefix = f"sqlite:///{db}", ""
            else:
                (out / "es").mkdir(exist_ok=True)
                url, prefix = stack.enter_context(elasticsearch(out / "es")).url, f"bench2-{records}-{cases}"
            if _stored(url, prefix) == 0:
                rates = asyncio.run(fill(url, prefix, records, cases, console))
                console.print(f"{which} write: {rates['records']:,.0f} records/s, {rates['cases']:,.0f} cases/s")
            console.print(f"{which}: {_stored(url, prefix):,} records (revocations included)")
            results[which] = _time(url, prefix, requests)
    short = {"sqlite": "SQLite", "elasticsearch": "ES"}
    table = Table("endpoint", *(f"{short.get(w, w)} {q}" for w in results for q in ("p50 ms", "p95 ms")), "items")
    for path in queries(random.Random(11)):
        row = [f"{v:.1f}" for w in results for v in results[w][path][:2]]
        table.add_row(path, *row, f"{next(iter(results.values()))[path][2]:.0f}")
    console.print(table)


if __name__ == "__main__":
    typer.run(main)
