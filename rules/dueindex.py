"""The due-index: which key is due next, for many keys whose due instants keep moving.

Most timers in this domain are hours or days away and are superseded before
they come due (a step completes before its reminder).  A single binary heap
would pay ``log n`` on every move and carry every superseded entry.  Here
entries beyond the current slot go into per-slot buckets in O(1); a slot's
bucket is heapified only when time reaches it, so the heap holds just the
current slot.  It is a one-level timer wheel with a heap of non-empty slots,
the layout Kafka's purgatory and Flink's timer service use in spirit.

Entries are hints, not truth: the owner keeps each key's real next due
instant and skips popped entries that no longer match it.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
_NEVER = 2**62


class DueIndex(Generic[K]):
    __slots__ = ("_far", "_far_min", "_near", "_slots", "_tick", "cursor", "head", "slot")

    def __init__(self, slot_seconds: int = 3600) -> None:
        self.slot = slot_seconds
        self.cursor = -(2**62)  # slots <= cursor live in the near heap
        self._near: list[tuple[int, int, K]] = []
        self._far: dict[int, list[tuple[int, int, K]]] = {}
        self._far_min: dict[int, int] = {}  # earliest instant in each far slot
        self._slots: list[int] = []  # heap of non-empty far slots
        self._tick = 0
        # The earliest instant held (or a huge number): callers test ``head < t``
        # before calling into the index, which most events never need to.
        self.head = _NEVER

    def __len__(self) -> int:
        return len(self._near) + sum(len(b) for b in self._far.values())

    def push(self, at: int, key: K) -> None:
        self._tick += 1
        if at < self.head:
            self.head = at
        s = at // self.slot
        if s <= self.cursor:
            heapq.heappush(self._near, (at, self._tick, key))
            return
        bucket = self._far.get(s)
        if bucket is None:
            self._far[s] = [(at, self._tick, key)]
            self._far_min[s] = at
            heapq.heappush(self._slots, s)
        else:
            bucket.append((at, self._tick, key))
            if at < self._far_min[s]:
                self._far_min[s] = at

    def pop_before(self, before: int) -> tuple[int, K] | None:
        """The earliest entry with ``at < before``, removed; ``None`` when there is none."""
        near = self._near
        if not (near and near[0][0] < before):
            last = (before - 1) // self.slot
            if last > self.cursor:
                slots = self._slots
                while slots and slots[0] <= last:
                    s = heapq.heappop(slots)
                    del self._far_min[s]
                    bucket = self._far.pop(s)
                    if near:
                        for entry in bucket:
                            heapq.heappush(near, entry)
                    else:
                        heapq.heapify(bucket)
                        near = self._near = bucket
                self.cursor = last
            if not (near and near[0][0] < before):
                return None
        at, _, key = heapq.heappop(near)
        if near:
            self.head = near[0][0]
        elif self._slots:
            self.head = self._far_min[self._slots[0]]
        else:
            self.head = _NEVER
        return at, key

    def peek(self) -> int | None:
        """The earliest instant held, or ``None``; for schedulers sleeping until then."""
        return None if self.head == _NEVER else self.head
