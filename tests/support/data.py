"""A simulated history judged by replay (records and case documents), a SQLite store holding it, and API keys."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from api.auth import ApiKey, hash_key
from approval_monitor.packs import load_pack
from approval_monitor.simulate import Scenario, simulate_lines
from rules.engine import Engine
from rules.events import Event, parse_line
from rules.records import Record
from rules.replay import Replayer
from rules.timeutil import parse_instant
from rules.views import case_document
from store.sqlite import SqliteStore
from support import SAMPLE_PACK

UNTIL = parse_instant("2026-03-20T00:00:00+08:00")


def judged_history() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    pack = load_pack(SAMPLE_PACK)
    events = []
    for i, line in enumerate(simulate_lines(pack, Scenario(cases=150, seed=4, per_hour=8, noise=0.0)), 1):
        got = parse_line(line, i)
        if isinstance(got, Event) and got.t < UNTIL:
            events.append(got)
    events.sort(key=lambda e: (e.t, e.seq))
    records: list[dict[str, Any]] = []
    rp = Replayer(Engine(pack), lambda o: records.append(o.to_json()) if isinstance(o, Record) else None, 10**9)
    rp.run(events, UNTIL)
    cases = [d for st in rp.cases.values() if (d := case_document(st, UNTIL)) is not None]
    return records, cases


RECORDS, CASES = judged_history()


def filled_sqlite(db: Path) -> SqliteStore:
    """A SQLite store holding the history, for tests of what sits on top of stores."""
    store = SqliteStore(db)

    async def fill() -> None:
        await store.setup()
        await store.put_records(RECORDS)
        await store.put_cases(CASES)

    asyncio.run(fill())
    return store


KEYS = {
    "sup": ApiKey(name="supervisor", sha256=hash_key("sup-key"), role="supervisor"),
    "market": ApiKey(name="market bureau", sha256=hash_key("market-key"), role="agency", scope="city/market"),
    "ingest": ApiKey(name="upstream", sha256=hash_key("ingest-key"), role="ingest"),
}


AUTH = {name: {"Authorization": f"Bearer {name}-key"} for name in KEYS}
