"""The sink's trail (``streams.trail``) on a real store: a repeat is never chained twice, a retried write stores
the very same entries, and chains go on from the heads the store holds."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from support.data import RECORDS

from rules.chain import GENESIS, link
from store.base import Batch
from store.sqlite import SqliteStore
from streams.trail import Trail


async def _no_anchor(value: bytes) -> None:
    raise AssertionError("nothing is anchored here")


def _rec(i: int) -> dict[str, Any]:
    return {**RECORDS[0], "id": f"trail-{i}"}


def test_new_records_go_on_from_the_stored_heads_and_repeats_are_not_chained_again(tmp_path: Path) -> None:
    async def go() -> list[dict[str, Any]]:
        store = SqliteStore(tmp_path / "m.db")
        trail = Trail(store, _no_anchor, anchor_seconds=3600)
        first = [(0, _rec(1)), (1, _rec(2))]
        await trail.ready()
        await store.put_batch(Batch([r for _, r in first], trail.linker(first)))
        trail.forget()  # as after a restart or a rebalance: the heads come from the store again
        second = [(0, _rec(1)), (0, _rec(3)), (0, _rec(3)), (1, _rec(4))]  # a repeat of a stored one, and within
        await trail.ready()
        await store.put_batch(Batch([r for _, r in second], trail.linker(second)))
        return [await store.get_record(f"trail-{i}") for i in (1, 2, 3, 4)]

    chains = {r["id"]: r["chain"] for r in asyncio.run(go())}
    h1, h2 = link(GENESIS, _rec(1)), link(GENESIS, _rec(2))
    assert chains == {
        "trail-1": {"p": 0, "n": 1, "hash": h1},
        "trail-2": {"p": 1, "n": 1, "hash": h2},
        "trail-3": {"p": 0, "n": 2, "hash": link(h1, _rec(3))},
        "trail-4": {"p": 1, "n": 2, "hash": link(h2, _rec(4))},
    }


def test_a_retried_link_gives_the_same_entries_and_moves_the_heads_once(tmp_path: Path) -> None:
    async def go() -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[int, tuple[int, str]]]:
        trail = Trail(SqliteStore(tmp_path / "m.db"), _no_anchor, anchor_seconds=3600)
        await trail.ready()
        linker = trail.linker([(0, _rec(1)), (0, _rec(2))])
        once = linker(set())
        again = linker({"trail-1"})  # as a retry after a write that failed part way might see it
        assert trail.heads is not None
        return once, again, dict(trail.heads)

    once, again, heads = asyncio.run(go())
    assert again is once and [r["chain"]["n"] for r in once] == [1, 2]
    assert heads == {0: (2, once[1]["chain"]["hash"])}
