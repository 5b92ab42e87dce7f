"""Replay throughput and peak memory on generated histories (run on demand, never in CI).

    .venv/bin/python bench/replay_bench.py --cases 100000 --cases 200000 --workers 1 --workers 2

For each size it writes (once, cached under bench/out/) a simulated event file
for the sample pack, then replays it in a fresh process per configuration — on
the compiled core and on pure Python (approval_monitor.compiled_core) — and
prints events per second and that process's peak resident memory, and beside
it the floor: reading the same file and ``orjson.loads``-ing every line.  Each
runs in a process of its own, in ``--rounds`` rounds of floor, replay, floor;
the figures are the medians.  On this shared machine one run swings by a
third (a floor run, half a second long, by half), so a ratio of single runs
says more about the neighbours than about the code.  Memory
should stay flat as the history grows: it is bounded by the sort chunk and by
open cases, not by the number of events.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PACK = ROOT / "rules" / "packs" / "cn-gov-2026.yaml"
UNTIL = "2026-12-31T00:00:00+08:00"


def _events_file(cases: int, per_hour: float, seed: int) -> Path:
    from approval_monitor.packs import load_pack
    from approval_monitor.simulate import Scenario, simulate_lines

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"events-{cases}-{per_hour:g}-{seed}.jsonl"
    if not path.exists():
        t = time.perf_counter()
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            for line in simulate_lines(load_pack(PACK), Scenario(cases=cases, per_hour=per_hour, seed=seed)):
                f.write(line + b"\n")
        tmp.rename(path)
        print(f"generated {path.name} in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    return path


def child(events: str, workers: int) -> None:
    """One measurement, in its own process so that peak memory is its own."""
    from approval_monitor import COMPILED_CORE
    from approval_monitor.packs import load_pack
    from approval_monitor.replay_job import replay_file, replay_parallel
    from rules.timeutil import parse_instant

    until = parse_instant(UNTIL)
    with open(OUT / "records.jsonl", "wb") as o, open(OUT / "rejects.jsonl", "wb") as r:
        if workers == 1:
            with open(events, "rb", buffering=1 << 20) as src:
                s = replay_file(load_pack(PACK), src, until, o, r)
        else:
            s = replay_parallel(str(PACK), events, until, o, r, workers=workers)
    digest = hashlib.blake2b((OUT / "records.jsonl").read_bytes(), digest_size=8).hexdigest()
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(
        json.dumps(
            {
                "lines": s.lines,
                "seconds": s.seconds,
                "records": sum(s.records.values()),
                "rejected": s.rejected,
                "open_cases": s.open_cases,
                "spilled_runs": s.spilled_runs,
                "peak_mib": max(own, kids) / 1024,
                "compiled": COMPILED_CORE,
                "records_digest": digest,
            }
        )
    )


def floor(events: str) -> None:
    """The floor the replay is held against, in a process of its own: reading the file and ``orjson.loads``-ing
    every line, nothing else."""
    import orjson

    t = time.perf_counter()
    n = bad = 0
    with open(events, "rb", buffering=1 << 20) as src:
        for line in src:
            try:
                orjson.loads(line)
            except orjson.JSONDecodeError:  # the history's noise: replay rejects those lines too
                bad += 1
            n += 1
    print(json.dumps({"lines": n, "bad": bad, "seconds": time.perf_counter() - t}))


ENGINES = {"compiled": "1", "pure": "0"}  # APPROVAL_MONITOR_COMPILED_CORE for each (approval_monitor.compiled_core)


def _child(*args: str, engine: str = "pure") -> dict[str, float]:
    env = {**os.environ, "APPROVAL_MONITOR_COMPILED_CORE": ENGINES[engine]}
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True, env=env)
    out: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def main(
    cases: Annotated[list[int], typer.Option(help="History sizes, in cases (about 11 events each).")] = [100_000],  # noqa: B006
    workers: Annotated[list[int], typer.Option(help="Worker processes to try.")] = [1],  # noqa: B006
    per_hour: float = 400.0,
    seed: int = 1,
    rounds: Annotated[int, typer.Option(help="Rounds of floor, replay, floor; medians are reported.")] = 3,
    engine: Annotated[
        list[str], typer.Option(help="compiled (the mypyc build, approval_monitor.compiled_core) and/or pure.")
    ] = ["compiled", "pure"],  # noqa: B006
) -> None:
    """Measure replay for each size and worker count; print a table for the README (medians of the rounds)."""
    table = Table(title=f"approval-monitor replay, sample pack, until {UNTIL}")
    cols = (
        "engine",
        "cases",
        "events",
        "workers",
        "seconds (range)",
        "events/s",
        "records",
        "peak RSS MiB",
        "floor s (range)",
        "/ floor",
    )
    for col in cols:
        table.add_column(col, justify="right")
    for n in cases:
        path = _events_file(n, per_hour, seed)
        for w in workers:
            floors: list[float] = []
            runs: dict[str, list[dict[str, float]]] = {e: [] for e in engine}
            for _ in range(rounds):  # the engines interleaved, a floor before and after each
                floors.append(_child("floor", str(path))["seconds"])
                for e in engine:
                    run = _child("child", str(path), str(w), engine=e)
                    if bool(run["compiled"]) != (e == "compiled"):
                        sys.exit("the compiled core is not built for these sources: deploy/test.sh builds it")
                    runs[e].append(run)
                    floors.append(_child("floor", str(path))["seconds"])
            f = statistics.median(floors)
            digests = {str(r["records_digest"]) for rs in runs.values() for r in rs}
            if len(digests) != 1:
                sys.exit(f"the engines wrote different records: {sorted(digests)}")
            for e in engine:
                _row(table, e, n, w, runs[e], f, floors)
    table.caption = "every run wrote the same records, byte for byte"
    Console().print(table)


def _row(table: Table, e: str, n: int, w: int, runs: list[dict[str, float]], f: float, floors: list[float]) -> None:
    m = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]  # the median run, with its own figures
    spread = f"{min(r['seconds'] for r in runs):.1f}-{max(r['seconds'] for r in runs):.1f}"
    table.add_row(
        e,
        f"{n:,}",
        f"{m['lines']:,}",
        str(w),
        f"{m['seconds']:.1f} ({spread})",
        f"{m['lines'] / m['seconds']:,.0f}",
        f"{m['records']:,}",
        f"{m['peak_mib']:.0f}",
        f"{f:.2f} ({min(floors):.2f}-{max(floors):.2f})",
        f"{m['seconds'] / f:.1f}x",
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        sys.argv.pop(1)
        typer.run(child)
    elif len(sys.argv) > 1 and sys.argv[1] == "floor":
        sys.argv.pop(1)
        typer.run(floor)
    else:
        typer.run(main)
