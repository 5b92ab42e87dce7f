"""An Elasticsearch store made by the first layout is refused at start and copied forward by one command."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from typing import Any

import pytest
from elasticsearch import AsyncElasticsearch
from support import ROOT
from support.data import CASES, RECORDS, REVOKED, counted, shown

from rules.errors import Unavailable
from rules.timeutil import parse_instant
from store.base import Period, RecordQuery
from store.elastic import ElasticStore

V1_DATE = {"type": "date", "format": "epoch_second"}  # layout 1: epoch fields as dates
V1_RECORDS = {
    "dynamic": False,
    "properties": {
        "id": {"type": "keyword"},
        "kind": {"type": "keyword"},
        "case_id": {"type": "keyword"},
        "agency_id": {"type": "keyword"},
        "handler_id": {"type": "keyword"},
        "item_code": {"type": "keyword"},
        "at_epoch": V1_DATE,
        "at": {"type": "date"},
        "points": {"type": "float"},
        "revokes": {"type": "keyword"},
    },
}
V1_CASES = {"dynamic": False, "properties": {"case_id": {"type": "keyword"}, "agency_id": {"type": "keyword"},
                                             "submitted_epoch": V1_DATE, "deadline_epoch": V1_DATE}}  # fmt: skip


async def _write_layout_1(url: str, prefix: str) -> None:
    """What the first layout wrote: monthly record indices behind an alias, ``-v1`` single indices."""
    es = AsyncElasticsearch(url)
    try:
        await es.indices.put_index_template(name=f"{prefix}-records", index_patterns=[f"{prefix}-records-*"],
                                            template={"mappings": V1_RECORDS, "aliases": {f"{prefix}-records": {}}},
                                            priority=200)  # fmt: skip
        ops: list[dict[str, Any]] = []
        for r in RECORDS:
            ops += [{"create": {"_index": f"{prefix}-records-{r['at'][:4]}.{r['at'][5:7]}", "_id": r["id"]}},
                    {**r, "at_epoch": parse_instant(r["at"])}]  # fmt: skip
        await es.indices.create(index=f"{prefix}-cases-v1", mappings=V1_CASES, aliases={f"{prefix}-cases": {}})
        for c in CASES:
            ops += [{"index": {"_index": f"{prefix}-cases-v1", "_id": c["case_id"]}},
                    {**c, "submitted_epoch": parse_instant(c["submitted_at"])}]  # fmt: skip
        res = await es.bulk(operations=ops, refresh=True)
        assert not res["errors"]
    finally:
        await es.close()


def _migrate(url: str, prefix: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "APPROVAL_MONITOR_STORE_URL": url, "APPROVAL_MONITOR_STORE_PREFIX": prefix}
    return subprocess.run([sys.executable, "-m", "approval_monitor", "store", "migrate"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip


def test_layout_1_is_refused_at_start_and_migrated_by_one_command(elastic_url: str) -> None:
    prefix = f"old{uuid.uuid4().hex[:8]}"
    asyncio.run(_write_layout_1(elastic_url, prefix))

    async def refused() -> str:
        store = ElasticStore(elastic_url, prefix=prefix)
        try:
            with pytest.raises(Unavailable) as e:
                await store.setup()
            return str(e.value)
        finally:
            await store.close()

    message = asyncio.run(refused())
    assert "approval-monitor store migrate" in message and f"{prefix}-cases-v1" in message

    done = _migrate(elastic_url, prefix)
    assert done.returncode == 0, done.stderr
    assert f"copied {len(CASES)} documents from {prefix}-cases-v1" in done.stdout

    since, until = parse_instant("2026-03-05T00:00:00Z"), parse_instant("2026-03-12T00:00:00Z")

    async def read() -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
        store = ElasticStore(elastic_url, prefix=prefix)
        try:
            await store.setup()  # no longer refused
            items, cursor = [], None
            while True:
                page = await store.search_records(RecordQuery(since=since, until=until, limit=500, cursor=cursor))
                items += page.items
                if (cursor := page.next_cursor) is None:
                    break
            cards = await store.scorecard("agency", Period(since, until))
            return items, cards, (await store.count())[0]
        finally:
            await store.close()

    got, cards, n = asyncio.run(read())
    want = sorted((r for r in RECORDS if since <= parse_instant(r["at"]) < until),
                  key=lambda r: (-parse_instant(r["at"]), r["id"]))  # fmt: skip
    assert got == [shown(r, REVOKED) for r in want]
    assert n == len(RECORDS)
    points = sum(r["points"] for r in want if counted(r, REVOKED))
    assert sum(c["points"] for c in cards) == pytest.approx(points)
    again = _migrate(elastic_url, prefix)
    assert again.returncode == 0 and "nothing to migrate" in again.stdout


def test_a_write_before_setup_waits_for_the_layout(elastic_url: str) -> None:
    """A sink may write before its setup task ran: the index must still get our mapping, not the server's guess."""
    prefix = f"early{uuid.uuid4().hex[:8]}"

    async def go() -> dict[str, Any]:
        store = ElasticStore(elastic_url, prefix=prefix)
        try:
            await store.put_cases(CASES[:3])  # no setup() first
            await store.put_records(RECORDS[:3])
            mapping = await store.es.indices.get_mapping(index=f"{prefix}-cases")
            settings = await store.es.indices.get_settings(index=f"{prefix}-cases")
            return {"mapping": next(iter(mapping.values())), "settings": next(iter(settings.values()))}
        finally:
            await store.close()

    got = asyncio.run(go())
    assert got["mapping"]["mappings"]["properties"]["agency_id"] == {"type": "keyword"}  # not text + keyword
    assert got["settings"]["settings"]["index"]["number_of_replicas"] == "0"
