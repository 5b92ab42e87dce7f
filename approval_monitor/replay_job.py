"""``approval-monitor replay``: judge a .jsonl history in event time.

The contract applies events in ``occurred_at`` order, ties in input order,
while files arrive in whatever order upstream systems wrote them.  The job
therefore streams the file once, rejecting bad lines as it goes, and sorts the
valid events with an external merge sort: runs of ``chunk_events`` are sorted
in memory and spilled to a temporary directory, then merged lazily.  Memory is
bounded by the chunk and by open cases — a 10 GB file is never held whole.
"""

from __future__ import annotations

import gc
import heapq
import os
import pickle
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import IO, BinaryIO

import orjson

from rules.engine import Engine
from rules.events import Event, Rejection, parse_line
from rules.pack import RulePack
from rules.records import Record
from rules.replay import DEFAULT_RETAIN_SECONDS, Replayer

DEFAULT_CHUNK_EVENTS = 250_000
_BATCH = 4096
_order = attrgetter("t", "seq")


@dataclass
class ReplaySummary:
    lines: int = 0
    applied: int = 0
    rejected: int = 0
    after_until: int = 0
    duplicates: int = 0
    records: Counter[str] = field(default_factory=Counter)
    open_cases: int = 0
    spilled_runs: int = 0
    seconds: float = 0.0

    @property
    def events_per_second(self) -> float:
        return self.lines / self.seconds if self.seconds else 0.0


def _spill(events: list[Event], directory: str, index: int) -> str:
    events.sort(key=_order)
    path = os.path.join(directory, f"run-{index:05}.pickle")
    with open(path, "wb") as f:
        for i in range(0, len(events), _BATCH):
            pickle.dump(events[i : i + _BATCH], f, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def _read_run(f: BinaryIO) -> Iterator[Event]:
    while True:
        try:
            batch = pickle.load(f)  # noqa: S301 - our own temporary file
        except EOFError:
            return
        yield from batch


class _Progress:
    """A rich progress bar on a terminal for big inputs; nothing otherwise."""

    def __init__(self, total_bytes: int | None) -> None:
        self.bar = None
        if total_bytes and total_bytes > 32 * 2**20 and sys.stderr.isatty():
            from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

            self.bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                DownloadColumn(),
                TimeRemainingColumn(),
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("reading events", total=total_bytes)

    def update(self, done: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def replay_file(
    pack: RulePack,
    events: BinaryIO,
    until: int,
    output: IO[bytes],
    rejects: IO[bytes],
    *,
    chunk_events: int = DEFAULT_CHUNK_EVENTS,
    retain_seconds: int = DEFAULT_RETAIN_SECONDS,
    total_bytes: int | None = None,
    spill_dir: str | None = None,
) -> ReplaySummary:
    started = time.perf_counter()
    summary = ReplaySummary()
    write_reject = rejects.write
    dumps = orjson.dumps
    progress = _Progress(total_bytes)

    def reject(r: Rejection) -> None:
        summary.rejected += 1
        write_reject(dumps(r.to_json()) + b"\n")

    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="am-replay-", dir=spill_dir))
        buffer: list[Event] = []
        runs: list[str] = []
        seq = 0
        done_bytes = 0
        for raw in events:
            seq += 1
            done_bytes += len(raw)
            if seq & 0xFFFF == 0:
                progress.update(done_bytes)
            line = raw.rstrip(b"\r\n")
            if not line.strip():
                reject(Rejection(seq, None, None, "empty", "the line is empty; write one JSON event per line", line))
                continue
            got = parse_line(line, seq)
            if type(got) is Rejection:
                reject(got)
                continue
            assert isinstance(got, Event)
            if got.t >= until:
                summary.after_until += 1
                continue
            buffer.append(got)
            if len(buffer) >= chunk_events:
                runs.append(_spill(buffer, tmp, len(runs)))
                buffer = []
        summary.lines = seq
        progress.stop()
        if runs:
            if buffer:
                runs.append(_spill(buffer, tmp, len(runs)))
                buffer = []
            streams = [_read_run(stack.enter_context(open(p, "rb"))) for p in runs]
            ordered: Iterator[Event] = heapq.merge(*streams, key=_order)
        else:
            buffer.sort(key=_order)
            ordered = iter(buffer)
        summary.spilled_runs = len(runs)

        write = output.write
        kinds = summary.records

        def sink(item: Record | Rejection) -> None:
            if type(item) is Record:
                kinds[item.kind] += 1
                write(dumps(item.to_json()) + b"\n")
            else:
                assert isinstance(item, Rejection)
                reject(item)

        replayer = Replayer(Engine(pack), sink, retain_seconds)
        # The loop allocates millions of short-lived acyclic objects; the cyclic
        # collector would rescan the long-lived case states on every pass.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            replayer.run(ordered, until)
        finally:
            if gc_was_enabled:
                gc.enable()
        summary.duplicates = replayer.duplicates
        summary.applied = seq - summary.rejected - summary.after_until
        summary.open_cases = replayer.open_cases
    summary.seconds = time.perf_counter() - started
    return summary


def open_events(path: str) -> tuple[BinaryIO, int | None]:
    if path == "-":
        return sys.stdin.buffer, None
    p = Path(path)
    return open(p, "rb", buffering=1 << 20), p.stat().st_size
