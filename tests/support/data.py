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
from rules.timeutil import format_instant, parse_instant
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


def revised(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The history as the live pipeline may write it: some alarms revoked by late events an hour later, half
    of those raised again (with a new id) at a later level, and some re-raises revoked in their turn."""
    out = list(records)
    alarms = [r for r in records if r["kind"] in ("reminder", "warning", "overdue", "case_overdue")]

    def revoke(r: dict[str, Any], n: int) -> dict[str, Any]:
        return {"id": f"rev{n}-{r['id']}", "kind": "revocation", "case_id": r["case_id"], "step": r["step"],
                "at": format_instant(parse_instant(r["at"]) + 3600 * n), "item_code": r["item_code"],
                "agency_id": r["agency_id"], "handler_id": None, "points": 0, "revokes": r["id"],
                "revoked_kind": r["kind"], "revoked_at": r["at"]}  # fmt: skip

    for i, r in enumerate(alarms[::6]):
        out.append(revoke(r, 1))
        if i % 2 == 0:
            again = {**r, "id": f"{r['id']}-r1", "at": format_instant(parse_instant(r["at"]) + 5400)}
            out.append(again)
            if i % 4 == 0:
                out.append(revoke(again, 2))
    return out


def revoked_ids(records: list[dict[str, Any]]) -> dict[str, str]:
    """Revoked record id -> the revocation's id."""
    return {r["revokes"]: r["id"] for r in records if r["kind"] == "revocation"}


def counted(r: dict[str, Any], revoked: dict[str, str]) -> bool:
    """Whether a record counts in sums: neither a revocation nor revoked."""
    return r["kind"] != "revocation" and r["id"] not in revoked


def shown(r: dict[str, Any], revoked: dict[str, str]) -> dict[str, Any]:
    """A record as stores give it back: with the revocation that revoked it, if any."""
    return {**r, "revoked_by": revoked[r["id"]]} if r["id"] in revoked else r


_RECORDS, CASES = judged_history()
RECORDS = revised(_RECORDS)
REVOKED = revoked_ids(RECORDS)


def filled_sqlite(db: Path, day_offset: int = 0) -> SqliteStore:
    """A SQLite store holding the history, for tests of what sits on top of stores."""
    store = SqliteStore(db, day_offset=day_offset)

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
