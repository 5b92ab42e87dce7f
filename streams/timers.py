"""The worker's timers: per-partition due-indexes of the cases it owns.

Timers are not ``app.timer`` callbacks (those run on every worker and drift
when the loop is busy) nor one ``call_at`` per case.  Each worker keeps, per
events partition it owns, a due-index of its cases' next wake-up instants; one
loop (in ``streams.app``) sleeps until the earliest entry of a partition that
may fire, then sends a tick keyed by the case to that partition.  A partition
still catching up on its backlog may not fire (``streams.positions``): its
entries wait in the index until it has.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from rules.dueindex import DueIndex


class Timers:
    """Per-partition due-indexes of the cases this worker owns, and the wake-up of the loop that drives them."""

    def __init__(self) -> None:
        self.index: dict[int, DueIndex[str]] = {}
        self.wake_at: dict[str, int] = {}  # case -> its current wake-up instant (index entries may be stale)
        self.owner: dict[str, int] = {}  # case -> partition
        self.changed = asyncio.Event()

    def set(self, partition: int, case_id: str, at: int | None) -> None:
        if at is None:
            self.wake_at.pop(case_id, None)
            self.owner.pop(case_id, None)
            return
        if self.wake_at.get(case_id) == at:
            return
        idx = self.index.get(partition)
        if idx is None:
            idx = self.index[partition] = DueIndex(slot_seconds=60)
        earliest = idx.head
        self.wake_at[case_id] = at
        self.owner[case_id] = partition
        idx.push(at, case_id)
        if at < earliest:
            self.changed.set()

    def reset(self, partitions: Iterable[int]) -> None:
        keep = set(partitions)
        for p in list(self.index):
            if p not in keep:
                self.drop([p])

    def drop(self, partitions: Iterable[int]) -> None:
        gone = set(partitions)
        for p in gone:
            self.index.pop(p, None)
        for case_id in [c for c, p in self.owner.items() if p in gone]:
            del self.owner[case_id]
            self.wake_at.pop(case_id, None)

    def due(self, now: int, may_fire: Callable[[int], bool]) -> list[tuple[int, str]]:
        """(partition, case) of every live entry at or before ``now``, removed from the index."""
        out = []
        for p, idx in self.index.items():
            if not may_fire(p):
                continue
            while (entry := idx.pop_before(now + 1)) is not None:
                at, case_id = entry
                if self.wake_at.get(case_id) == at:
                    del self.wake_at[case_id]
                    out.append((p, case_id))
        return out

    def earliest(self, may_fire: Callable[[int], bool]) -> int | None:
        heads = [idx.head for p, idx in self.index.items() if may_fire(p) and idx.peek() is not None]
        return min(heads) if heads else None

    def __len__(self) -> int:
        return len(self.wake_at)
