"""The record trail on both stores: a clean trail verifies, and every kind of tampering is named.

Records are linked as the sink links them (``rules.chain``), written through the store, then
altered behind its back — the way an operator with database access could — and checked
with ``store.verify.verify_store`` against anchors taken before the tampering.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.data import RECORDS

from rules.chain import GENESIS, Anchor, link
from store.sqlite import SqliteStore
from store.verify import verify_store

CHAINS = 3


def _linked(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Anchor]]:
    heads: dict[int, tuple[int, str]] = {}
    out = []
    for i, r in enumerate(records):
        p = i % CHAINS
        n, prev = heads.get(p, (0, GENESIS))
        digest = link(prev, r)
        heads[p] = (n + 1, digest)
        out.append({**r, "chain": {"p": p, "n": n + 1, "hash": digest}})
    return out, [Anchor(p, n, h, "2026-03-20T00:00:00Z") for p, (n, h) in heads.items()]


LINKED, ANCHORS = _linked(RECORDS)


@pytest.fixture(params=["sqlite", "elasticsearch"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Any, Any]]:
    """(kind, store, a raw handle for tampering: the SQLite path, or the Elasticsearch URL and prefix)."""
    loop = asyncio.new_event_loop()
    if request.param == "sqlite":
        store: Any = SqliteStore(tmp_path / "trail.db")
        raw: Any = tmp_path / "trail.db"
    else:
        from store.elastic import ElasticStore

        url, prefix = request.getfixturevalue("elastic_url"), f"trail{uuid.uuid4().hex[:8]}"
        store, raw = ElasticStore(url, prefix=prefix), (url, prefix)
    loop.run_until_complete(store.setup())
    loop.run_until_complete(store.put_records(LINKED))
    loop.run_until_complete(store.put_records(LINKED[::7]))  # repeats change nothing
    loop.run_until_complete(store.refresh())
    store.loop = loop
    yield request.param, store, raw
    loop.run_until_complete(store.close())
    loop.close()


def _verify(store: Any, anchors: list[Anchor] = ANCHORS) -> dict[str, Any]:
    store.loop.run_until_complete(store.refresh())
    return store.loop.run_until_complete(verify_store(store, anchors))


def _tamper(kind: str, raw: Any, sql: str, args: tuple[Any, ...], es: Any) -> None:
    if kind == "sqlite":
        with sqlite3.connect(raw) as db:
            db.execute(sql, args)
    else:
        from elasticsearch import Elasticsearch

        url, prefix = raw
        client = Elasticsearch(url)
        try:
            es(client, f"{prefix}-records")
            client.indices.refresh(index=f"{prefix}-records")
        finally:
            client.close()


def _hit(client: Any, index: str, rid: str) -> dict[str, Any]:
    return client.search(index=index, query={"term": {"id": rid}})["hits"]["hits"][0]


def test_a_clean_trail_with_repeats_and_revocations_verifies(backend: tuple[str, Any, Any]) -> None:
    _, store, _ = backend
    report = _verify(store)
    assert report["ok"], report["findings"]
    assert report["entries"] == len(RECORDS) and report["anchors_checked"] == CHAINS
    assert any(r["kind"] == "revocation" for r in RECORDS)


def test_an_edited_record_is_named(backend: tuple[str, Any, Any]) -> None:
    kind, store, raw = backend
    victim = next(r for r in LINKED if r["kind"] == "overdue" and r["chain"]["n"] > 3)

    def es(client: Any, index: str) -> None:
        hit = _hit(client, index, victim["id"])
        client.update(index=hit["_index"], id=hit["_id"], doc={"kind": "reminder", "points": 0})

    _tamper(kind, raw, "UPDATE records SET kind = 'reminder', points = 0 WHERE id = ?", (victim["id"],), es)
    (finding, *_) = _verify(store)["findings"]
    assert (finding["kind"], finding["record_id"], finding["n"]) == ("edited", victim["id"], victim["chain"]["n"])


def test_a_deleted_record_is_named(backend: tuple[str, Any, Any]) -> None:
    kind, store, raw = backend
    victim = LINKED[30]

    def es(client: Any, index: str) -> None:
        hit = _hit(client, index, victim["id"])
        client.delete(index=hit["_index"], id=hit["_id"])

    _tamper(kind, raw, "DELETE FROM records WHERE id = ?", (victim["id"],), es)
    (finding, *_) = _verify(store)["findings"]
    assert (finding["kind"], finding["partition"], finding["n"]) == (
        "deleted",
        victim["chain"]["p"],
        victim["chain"]["n"],
    )


def test_an_inserted_record_is_named(backend: tuple[str, Any, Any]) -> None:
    _, store, _ = backend
    forged = {**RECORDS[5], "id": "forged-red-card", "kind": "overdue", "points": 2}
    store.loop.run_until_complete(store.put_records([forged]))  # written around the sink: no chain entry
    findings = _verify(store)["findings"]
    assert [(f["kind"], f["record_id"]) for f in findings] == [("inserted", "forged-red-card")]


def test_reordered_records_are_named(backend: tuple[str, Any, Any]) -> None:
    kind, store, raw = backend
    a, b = (r for r in LINKED if r["chain"]["p"] == 0 and r["chain"]["n"] in (5, 6))

    def es(client: Any, index: str) -> None:  # the two swap places, each keeping its own hash
        for one, other in ((a, b), (b, a)):
            hit = _hit(client, index, one["id"])
            client.update(index=hit["_index"], id=hit["_id"], doc={"chain": {**one["chain"], "n": other["chain"]["n"]}})

    sql = "UPDATE records SET chain_n = CASE id WHEN ? THEN 6 ELSE 5 END WHERE id IN (?, ?)"
    _tamper(kind, raw, sql, (a["id"], a["id"], b["id"]), es)
    (finding, *_) = _verify(store)["findings"]
    assert finding["kind"] == "reordered" and finding["n"] == 5 and finding["partition"] == 0


def test_a_truncated_tail_is_named_and_a_rewritten_chain_disagrees_with_its_anchor(
    backend: tuple[str, Any, Any],
) -> None:
    kind, store, raw = backend
    tails = {p: max((r for r in LINKED if r["chain"]["p"] == p), key=lambda r: r["chain"]["n"])
             for p in {r["chain"]["p"] for r in LINKED}}  # fmt: skip
    # A chain whose tail is a penalty record, so that SQLite's roll-ups count what went missing.
    last = next(t for _, t in sorted(tails.items()) if t["kind"] != "revocation")
    part = last["chain"]["p"]

    def es(client: Any, index: str) -> None:
        hit = _hit(client, index, last["id"])
        client.delete(index=hit["_index"], id=hit["_id"])

    _tamper(kind, raw, "DELETE FROM records WHERE id = ?", (last["id"],), es)
    findings = _verify(store)["findings"]
    assert (findings[0]["kind"], findings[0]["partition"]) == ("truncated", part)
    assert [f["kind"] for f in findings[1:]] == (["rollup"] if kind == "sqlite" else [])  # SQLite's roll-ups saw it
    # without anchors the chains alone cannot tell a clean cut: that is what anchors are for
    assert [f["kind"] for f in _verify(store, [])["findings"]] == (["rollup"] if kind == "sqlite" else [])
