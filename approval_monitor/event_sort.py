"""Events in event order in bounded memory: the replay's external merge sort.

The contract applies events in ``occurred_at`` order, ties in input order, while
files arrive in whatever order upstream systems wrote them.  Runs of
``chunk_events`` are sorted in memory and spilled to a temporary directory, the
last stays in memory, and all are merged lazily, so a 10 GB file is never held
whole.

Events travel as plain tuples: marshal of tuples is several times faster than
pickling objects, tuples sort in C with no key function, and their first two
fields, ``t`` and ``seq``, decide every comparison (``seq`` is unique).
"""

from __future__ import annotations

import dataclasses
import heapq
import marshal
import os
import struct
from bisect import bisect_left
from collections.abc import Iterator
from contextlib import ExitStack
from decimal import Decimal
from itertools import islice
from operator import attrgetter
from typing import Any, BinaryIO

from rules.events import Event

_BATCH = 4096
_FRAME = struct.Struct("<I")

# Every field of an event, in declaration order: a field added to Event is spilled without a change here.
_FIELDS = tuple(f.name for f in dataclasses.fields(Event))
assert _FIELDS[:2] == ("t", "seq")
_DECIMALS = tuple(i for i, name in enumerate(_FIELDS) if name in ("fee", "extend_hours"))
_FEE, _HOURS = _DECIMALS
_values = attrgetter(*_FIELDS)
_order = attrgetter("t", "seq")
Row = tuple[object, ...]


class EventSort:
    """Collects events in any order; ``ordered`` gives them back in event order, once."""

    def __init__(self, directory: str, chunk_events: int) -> None:
        self.directory = directory
        self.chunk = chunk_events
        self.buffer: list[Event] = []
        self.runs: list[str] = []

    def add(self, ev: Event) -> None:
        self.buffer.append(ev)
        if len(self.buffer) >= self.chunk:
            self.runs.append(_spill(self.buffer, self.directory, len(self.runs)))
            self.buffer = []

    def ordered(self) -> Iterator[Event]:
        buffer, self.buffer = self.buffer, []
        if not self.runs:
            buffer.sort(key=_order)
            yield from buffer
            return
        with ExitStack() as stack:
            sources = [_read_run(stack.enter_context(open(p, "rb"))) for p in self.runs]
            sources.append(iter([_sorted_rows(buffer)]))  # the last run stays in memory, one batch
            del buffer
            yield from map(_event, merge_runs(sources))


def _spill(events: list[Event], directory: str, index: int) -> str:
    """Write one sorted run as length-prefixed frames of ``_BATCH`` rows each.

    A frame is read back whole and decoded with ``marshal.loads``: ``marshal.load``
    on a file reads it a few bytes at a time, ten times slower (issue 16's profile)."""
    rows = _sorted_rows(events)
    path = os.path.join(directory, f"run-{index:05}.bin")
    with open(path, "wb") as f:
        for i in range(0, len(rows), _BATCH):
            blob = marshal.dumps(rows[i : i + _BATCH])
            f.write(_FRAME.pack(len(blob)))
            f.write(blob)
    return path


def _sorted_rows(events: list[Event]) -> list[Row]:
    """The events as rows in event order, converted in place: each event is freed as its row replaces it, so a
    run costs no more memory than its events did."""
    rows: list[Any] = events
    for i, e in enumerate(events):
        row = _values(e)
        if row[_FEE] is not None or row[_HOURS] is not None:  # marshal writes no Decimal: as text
            row = tuple(str(v) if j in _DECIMALS and v is not None else v for j, v in enumerate(row))
        rows[i] = row
    rows.sort()
    return rows


def _event(values: Row) -> Event:
    if values[_FEE] is not None or values[_HOURS] is not None:
        values = tuple(Decimal(str(v)) if j in _DECIMALS and v is not None else v for j, v in enumerate(values))
    return Event(*values)  # type: ignore[arg-type]


def _read_run(f: BinaryIO) -> Iterator[list[Row]]:
    while head := f.read(_FRAME.size):
        (size,) = _FRAME.unpack(head)
        yield marshal.loads(f.read(size))  # noqa: S302 - our own temporary file


def _next_batch(source: Iterator[list[Row]]) -> list[Row] | None:
    """The run's next batch that holds a row; ``None`` at its end."""
    return next((b for b in source if b), None)


def merge_runs(sources: list[Iterator[list[Row]]]) -> Iterator[Row]:
    """The rows of sorted runs, each given as batches of rows, in one order.

    Runs cut from a file written in roughly time order barely overlap, so a
    row-by-row merge (``heapq.merge``, Python code per row) would mostly compare
    rows whose order is already known.  Each step here hands over, found with
    one bisection, every row of the leading run's batch that comes before the
    other runs' heads: a row costs a comparison only where runs interleave.
    """
    heap: list[tuple[Row, int, list[Row], int]] = []  # (head, run, batch, head's position in the batch)
    for i, source in enumerate(sources):
        if (batch := _next_batch(source)) is not None:
            heap.append((batch[0], i, batch, 0))
    heapq.heapify(heap)
    while len(heap) > 1:
        _, i, batch, pos = heap[0]
        second = heap[1][0] if len(heap) == 2 or heap[1][0] < heap[2][0] else heap[2][0]
        end = bisect_left(batch, second, pos + 1)  # rows are unique: the head itself is before ``second``
        yield from islice(batch, pos, end)
        if end < len(batch):
            heapq.heapreplace(heap, (batch[end], i, batch, end))
        elif (batch := _next_batch(sources[i])) is not None:
            heapq.heapreplace(heap, (batch[0], i, batch, 0))
        else:
            heapq.heappop(heap)
    if heap:
        _, i, batch, pos = heap[0]
        yield from islice(batch, pos, None)
        for batch in sources[i]:
            yield from batch
