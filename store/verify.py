"""Checking a store's record trail: every chain recomputed, anchors compared, stray records and roll-ups found."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from rules.chain import Anchor, verify_chain
from rules.timeutil import format_instant
from store.base import Store


async def verify_store(store: Store, anchors: Iterable[Anchor] | None) -> dict[str, Any]:
    """The report ``approval-monitor verify`` prints and keeps; ``anchors`` None: none could be read."""
    pinned = list(anchors or [])
    partitions = sorted(set(await store.chain_partitions()) | {a.partition for a in pinned})
    chains: list[dict[str, Any]] = []
    findings: list[dict[str, Any]] = []
    total = 0
    for p in partitions:
        report = verify_chain(p, [e async for e in store.chain_entries(p)], pinned)
        total += report.entries
        chains.append({"partition": p, "entries": report.entries, "head": report.head,
                       "anchors_checked": report.anchors_checked,
                       "last_anchor": None if report.last_anchor is None else
                       {"n": report.last_anchor.n, "at": report.last_anchor.at}})  # fmt: skip
        if report.finding is not None:
            findings.append(report.finding.to_json())
    stray, example = await store.unchained()
    if stray:
        findings.append({"kind": "inserted", "partition": None, "n": None, "record_id": example,
                         "detail": f"{stray} stored records belong to no chain (written around the sink, or "
                                   "stored before the trail existed)"})  # fmt: skip
    for problem in await store.check_rollups():
        findings.append({"kind": "rollup", "partition": None, "n": None, "record_id": None, "detail": problem})
    checked: list[dict[str, Any]] = [c["last_anchor"] for c in chains if c["last_anchor"]]
    return {
        "verified_at": format_instant(int(time.time())),
        "ok": not findings,
        "entries": total,
        "chains": chains,
        "anchors": None if anchors is None else len(pinned),
        "anchors_checked": sum(c["anchors_checked"] for c in chains),
        "last_anchor": max(checked, key=lambda a: a["at"]) if checked else None,
        "findings": findings,
    }
