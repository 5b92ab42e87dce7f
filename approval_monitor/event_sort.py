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

_order = attrgetter("t", "seq")
Row = tuple[object, ...]  # an event's fields in declaration order (``_row``), ``t`` and ``seq`` first


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
        rows[i] = _row(e)
    rows.sort()
    return rows


# Every field spelled out, not ``attrgetter(*fields)`` and ``Event(*row)``: compiled (approval_monitor.compiled_core)
# these are direct reads and a direct call, the generic forms a lookup per field. A test holds both to
# ``dataclasses.fields(Event)``, so a field added to Event cannot be left out of the spill.
def _row(e: Event) -> Row:
    fee, hours = e.fee, e.extend_hours  # marshal writes no Decimal: as text
    return (
        e.t, e.seq, e.type, e.event_id, e.case_id, e.step, e.item_code, e.agency_id, e.handler_id,
        None if fee is None else str(fee), e.reason, e.raw, e.received, e.outcome, e.suspension_kind,
        e.extend_days, None if hours is None else str(hours),
    )  # fmt: skip


def _event(v: tuple[Any, ...]) -> Event:
    fee, hours = v[9], v[16]
    return Event(
        v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], None if fee is None else Decimal(fee), v[10], v[11],
        v[12], v[13], v[14], v[15], None if hours is None else Decimal(hours),
    )  # fmt: skip


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
