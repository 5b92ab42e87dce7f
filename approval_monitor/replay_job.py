"""``approval-monitor replay``: judge a .jsonl history in event time.

The contract applies events in ``occurred_at`` order, ties in input order,
while files arrive in whatever order upstream systems wrote them.  The job
therefore streams the file once, rejecting bad lines as it goes, and sorts the
valid events with an external merge sort (``approval_monitor.event_sort``).
Memory is bounded by the sort's chunk and by open cases — a 10 GB file is
never held whole.
"""

from __future__ import annotations

import gc
import heapq
import multiprocessing
import os
import sys
import tempfile
import time
import zlib
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, BinaryIO

import orjson

from approval_monitor.event_sort import EventSort
from approval_monitor.packs import load_pack
from rules.engine import Engine
from rules.events import Event, Rejection, decode, future_stamped
from rules.pack import RulePack
from rules.records import Record
from rules.replay import DEFAULT_RETAIN_SECONDS, Replayer

DEFAULT_CHUNK_EVENTS = 250_000


@dataclass
class ReplaySummary:
    lines: int = 0
    applied: int = 0
    rejected: int = 0
    after_until: int = 0
    duplicates: int = 0
    elsewhere: int = 0  # lines owned by other partitions
    records: Counter[str] = field(default_factory=Counter)
    open_cases: int = 0
    spilled_runs: int = 0
    seconds: float = 0.0

    @property
    def events_per_second(self) -> float:
        return self.lines / self.seconds if self.seconds else 0.0


BOM = b"\xef\xbb\xbf"


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


def _owner(obj: object, partitions: int) -> int:
    """The partition of a parsed line: by case, as Kafka partitions the events topic."""
    if isinstance(obj, dict):
        case_id = obj.get("case_id")
        if isinstance(case_id, str | int) and not isinstance(case_id, bool) and case_id != "":
            return zlib.crc32(str(case_id).encode()) % partitions
    return 0  # lines without a usable case id are judged (rejected) by partition 0


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
    partition: tuple[int, int] = (0, 1),
) -> ReplaySummary:
    """Replay one partition (all of it by default) of an event file."""
    started = time.perf_counter()
    summary = ReplaySummary()
    write_reject = rejects.write
    loads, JSONDecodeError = orjson.loads, orjson.JSONDecodeError
    dumps, line_end = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    progress = _Progress(total_bytes)
    mine, partitions = partition
    tolerance = pack.future_tolerance

    def reject(r: Rejection) -> None:
        summary.rejected += 1
        write_reject(dumps(r.to_json(), option=line_end))

    # Millions of short-lived acyclic objects: the cyclic collector would only
    # rescan the long-lived buffers and case states on every pass.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    with ExitStack() as stack:
        stack.callback(lambda: gc.enable() if gc_was_enabled else None)
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="am-replay-", dir=spill_dir))
        sort = EventSort(tmp, chunk_events)
        add = sort.add
        seq = 0
        done_bytes = 0
        for raw in events:
            seq += 1
            done_bytes += len(raw)
            if seq & 0xFFFF == 0:
                progress.update(done_bytes)
            line = raw.rstrip(b"\r\n")
            if seq == 1 and line.startswith(BOM):
                line = line[len(BOM) :]  # a file saved "UTF-8 with BOM" (Windows tools): the mark is not the event
            try:
                obj = loads(line)
            except JSONDecodeError as e:
                if mine == 0:
                    if line.strip():
                        reject(Rejection(seq, None, None, "bad_json", f"not valid JSON: {e}", line))
                    else:
                        reject(
                            Rejection(
                                seq, None, None, "empty", "the line is empty; write one JSON event per line", line
                            )
                        )
                continue
            if partitions > 1 and _owner(obj, partitions) != mine:
                summary.elsewhere += 1
                continue
            got = decode(obj, seq, line)
            if type(got) is Rejection:
                reject(got)
                continue
            assert isinstance(got, Event)
            if got.received is not None and (future := future_stamped(got, tolerance)) is not None:
                reject(future)
                continue
            if got.t >= until:
                summary.after_until += 1
                continue
            add(got)
        summary.lines = seq
        progress.stop()
        summary.spilled_runs = len(sort.runs)

        write = output.write
        kinds = summary.records

        def sink(item: Record | Rejection) -> None:
            if type(item) is Record:
                kinds[item.kind] += 1
                write(dumps(item.to_json(), option=line_end))
            else:
                assert isinstance(item, Rejection)
                reject(item)

        replayer = Replayer(Engine(pack), sink, retain_seconds)
        replayer.run(sort.ordered(), until)
        summary.duplicates = replayer.duplicates
        summary.applied = seq - summary.rejected - summary.after_until - summary.elsewhere
        summary.open_cases = replayer.open_cases
    summary.seconds = time.perf_counter() - started
    return summary


def _replay_partition(
    rules: str,
    events: str,
    until: int,
    out: str,
    rej: str,
    chunk_events: int,
    retain_seconds: int,
    partition: tuple[int, int],
) -> ReplaySummary:
    with open(events, "rb", buffering=1 << 20) as src, open(out, "wb") as o, open(rej, "wb") as r:
        return replay_file(
            load_pack(rules),
            src,
            until,
            o,
            r,
            chunk_events=chunk_events,
            retain_seconds=retain_seconds,
            partition=partition,
        )


def _at(line: bytes) -> bytes:
    i = line.find(b'"at":"')
    return line[i + 6 : i + 26]


def replay_parallel(
    rules: str,
    events: str,
    until: int,
    output: IO[bytes],
    rejects: IO[bytes],
    *,
    workers: int,
    chunk_events: int = DEFAULT_CHUNK_EVENTS,
    retain_seconds: int = DEFAULT_RETAIN_SECONDS,
) -> ReplaySummary:
    """Replay with ``workers`` processes, each owning the cases that hash to it.

    Cases never interact, so partitioning by case is exact — the same records
    as one process, merged back into ``at`` order.
    """
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="am-parallel-") as tmp:
        outs = [os.path.join(tmp, f"records-{k}.jsonl") for k in range(workers)]
        rejs = [os.path.join(tmp, f"rejects-{k}.jsonl") for k in range(workers)]
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = [
                pool.submit(
                    _replay_partition,
                    rules,
                    events,
                    until,
                    outs[k],
                    rejs[k],
                    chunk_events,
                    retain_seconds,
                    (k, workers),
                )
                for k in range(workers)
            ]
            parts = [f.result() for f in futures]
        with ExitStack() as stack:
            files = [stack.enter_context(open(p, "rb")) for p in outs]
            output.writelines(heapq.merge(*files, key=_at))
        bad: list[bytes] = []
        for p in rejs:
            with open(p, "rb") as f:
                bad.extend(f)
        bad.sort(key=lambda b: orjson.loads(b)["line"])
        rejects.writelines(bad)
    total = ReplaySummary(lines=parts[0].lines, spilled_runs=sum(p.spilled_runs for p in parts))
    for part in parts:
        total.applied += part.applied
        total.rejected += part.rejected
        total.after_until += part.after_until
        total.duplicates += part.duplicates
        total.records.update(part.records)
        total.open_cases += part.open_cases
    total.seconds = time.perf_counter() - started
    return total


def open_events(path: str) -> tuple[BinaryIO, int | None]:
    if path == "-":
        return sys.stdin.buffer, None
    p = Path(path)
    return open(p, "rb", buffering=1 << 20), p.stat().st_size
