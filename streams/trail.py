"""The sink's side of the record trail: each new record linked into its partition's chain, heads anchored.

Chains are kept per partition of the records topic, in the order the sink first
stores records (``rules.chain``).  The sink owning a partition holds its chain's
head; it reads the heads from the store whenever its partitions change (the
store is the truth after a crash or a takeover), and skips a record whose id is
stored already, so the repeats at-least-once delivery brings are never linked
twice.  Every ``anchor_seconds`` the heads that moved are published to the
anchors topic (append-only, unlimited retention) and logged: a store rewritten
after that can no longer agree with them (``approval-monitor verify``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from rules.chain import GENESIS, Anchor, link
from rules.timeutil import format_instant
from store.base import Store
from streams.topic_reader import read_to_end

log = logging.getLogger("approval_monitor.trail")


class Trail:
    def __init__(self, store: Store, publish: Callable[[bytes], Awaitable[Any]], anchor_seconds: float = 10.0) -> None:
        self.store = store
        self.publish = publish
        self.anchor_seconds = anchor_seconds
        self.heads: dict[int, tuple[int, str]] | None = None
        self.anchored: dict[int, int] = {}  # the last n anchored per partition
        self.last_anchor = 0.0

    def forget(self) -> None:
        """Partitions moved: the next batch reads the heads from the store."""
        self.heads = None

    async def ready(self) -> None:
        """The heads read from the store if the partitions changed since they were."""
        if self.heads is None:
            await self.store.refresh()
            self.heads = await self.store.chain_heads()

    def linker(self, batch: list[tuple[int, dict[str, Any]]]) -> Callable[[set[str]], list[dict[str, Any]]]:
        """What links the batch's records (partition, record) not stored yet, each with its chain entry, given the
        ids stored; called after ``ready``.  It links once: called again (a retried write), it gives the same
        entries, since the heads moved past them already."""
        linked: list[list[dict[str, Any]]] = []

        def link_new(stored: set[str]) -> list[dict[str, Any]]:
            if not linked:
                linked.append(self._link(batch, stored))
            return linked[0]

        return link_new

    def _link(self, batch: list[tuple[int, dict[str, Any]]], stored: set[str]) -> list[dict[str, Any]]:
        assert self.heads is not None, "Trail.ready() reads the heads first"
        out = []
        for p, r in batch:
            if r["id"] in stored:
                continue  # a repeat: linked when it was first stored
            stored.add(r["id"])
            n, prev = self.heads.get(p, (0, GENESIS))
            digest = link(prev, r)
            self.heads[p] = (n + 1, digest)
            out.append({**r, "chain": {"p": p, "n": n + 1, "hash": digest}})
        return out

    async def anchor(self) -> None:
        """Publish (and log) the heads that moved, at most every ``anchor_seconds``; call after a store write."""
        now = time.time()
        if self.heads is None or now - self.last_anchor < self.anchor_seconds:
            return
        self.last_anchor = now
        for p, (n, digest) in sorted(self.heads.items()):
            if self.anchored.get(p) == n:
                continue
            anchor = {"partition": p, "n": n, "hash": digest, "at": format_instant(int(now))}
            await self.publish(orjson.dumps(anchor))
            self.anchored[p] = n
            log.info("trail anchored: partition %d at entry %d, %s", p, n, digest, extra=anchor)


def read_anchors(bootstrap: str, topic: str, timeout: float = 30.0) -> list[Anchor]:
    """Every anchor on the anchors topic up to its end now."""
    out = []
    for m in read_to_end(bootstrap, topic, timeout):
        a = orjson.loads(m.value)
        out.append(Anchor(int(a["partition"]), int(a["n"]), str(a["hash"]), str(a["at"])))
    return out
