"""The ``approval-monitor`` command: one entry point, one subcommand per job."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from approval_monitor.settings import get_settings
from rules.pack import PackError, RulePack, load_pack
from rules.timeutil import TimestampError, format_instant, parse_instant

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="E-supervision of administrative approvals (行政审批电子监察)."
)
rules_app = typer.Typer(no_args_is_help=True, help="Rule packs: check them, build their calendars.")
app.add_typer(rules_app, name="rules")
err = Console(stderr=True)
out = Console()

settings = get_settings()


def _load(path: Path) -> RulePack:
    try:
        return load_pack(path)
    except PackError as e:
        err.print(f"[red]error:[/red] rule pack {e.source} is invalid:", highlight=False)
        for p in e.problems:
            err.print(f"  - {p}", highlight=False, markup=False)
        raise typer.Exit(2) from None


def _instant(text: str, flag: str) -> int:
    try:
        return parse_instant(text)
    except TimestampError as e:
        err.print(f"[red]error:[/red] {flag} {e}", highlight=False)
        raise typer.Exit(2) from None


@app.command()
def replay(
    rules: Annotated[Path, typer.Option("--rules", help="Rule pack YAML.")],
    events: Annotated[str, typer.Option("--events", help="Events .jsonl file, or - for stdin.")],
    until: Annotated[str, typer.Option("--until", help="Evaluation instant (RFC 3339 with offset), exclusive.")],
    output: Annotated[Path, typer.Option("--output", help="Where to write records (.jsonl).")],
    rejects: Annotated[Path, typer.Option("--rejects", help="Where to write rejected lines (.jsonl).")],
    chunk_events: Annotated[
        int, typer.Option(help="Events sorted in memory before spilling a run to disk.", min=1000)
    ] = settings.chunk_events,
    retain_days: Annotated[
        float, typer.Option(help="Days of event time a completed case is remembered (duplicates, late events).", min=0)
    ] = settings.retain_days,
    workers: Annotated[int, typer.Option(help="Processes, each judging the cases that hash to it (exact).", min=1)] = 1,
) -> None:
    """Judge a history of events as of --until, exactly as the live pipeline would."""
    from approval_monitor.replay_job import open_events, replay_file, replay_parallel

    pack = _load(rules)
    until_t = _instant(until, "--until")
    retain = int(retain_days * 86400)
    try:
        source, size = open_events(events)
    except OSError as e:
        err.print(f"[red]error:[/red] --events {events}: {e.strerror}; give a readable .jsonl file or -")
        raise typer.Exit(2) from None
    if workers > 1 and size is None:
        err.print("[red]error:[/red] --workers needs --events to be a file, not standard input")
        raise typer.Exit(2)
    with source, open(output, "wb") as o, open(rejects, "wb") as r:
        if workers > 1:
            s = replay_parallel(
                str(rules), events, until_t, o, r, workers=workers, chunk_events=chunk_events, retain_seconds=retain
            )
        else:
            s = replay_file(
                pack, source, until_t, o, r, chunk_events=chunk_events, retain_seconds=retain, total_bytes=size
            )
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(s.records.items())) or "none"
    err.print(
        f"replayed {s.lines} lines as of {format_instant(until_t)} in {s.seconds:.2f}s "
        f"({s.events_per_second:,.0f} lines/s): "
        f"{sum(s.records.values())} records ({kinds}); {s.rejected} rejected; {s.after_until} at or after --until; "
        f"{s.open_cases} cases still open",
        highlight=False,
    )


def _bootstrap() -> str:
    if not settings.kafka_bootstrap_servers:
        err.print("[red]error:[/red] KAFKA_BOOTSTRAP_SERVERS is not set; give host:port of a Kafka broker")
        raise typer.Exit(2)
    return settings.kafka_bootstrap_servers


@app.command()
def worker(loglevel: Annotated[str, typer.Option(help="Faust log level.")] = "warning") -> None:
    """Run a Faust worker: judge events from Kafka and raise records live."""
    from streams.worker import run_worker

    _load(settings.rules)
    run_worker(settings, _bootstrap(), loglevel)


@app.command()
def sink(loglevel: Annotated[str, typer.Option(help="Faust log level.")] = "warning") -> None:
    """Index records and case documents from Kafka into the store (APPROVAL_MONITOR_STORE_URL)."""
    from streams.sink import run_sink

    run_sink(settings, _bootstrap(), loglevel)


@app.command()
def webhooks(loglevel: Annotated[str, typer.Option(help="Faust log level.")] = "warning") -> None:
    """Deliver records to webhook subscribers: signed, retried with backoff, dead-lettered, logged."""
    from streams.webhooks import run_webhooks

    run_webhooks(settings, _bootstrap(), loglevel)


@app.command()
def api() -> None:
    """Serve the supervisors' API on the configured store (APPROVAL_MONITOR_API_HOST/PORT)."""
    from api.server import serve

    if not settings.api_keys:
        err.print("[yellow]warning:[/yellow] no APPROVAL_MONITOR_API_KEYS: every /v1 request will be refused (401)")
    serve(settings)


keys_app = typer.Typer(no_args_is_help=True, help="API keys.")
app.add_typer(keys_app, name="keys")


@keys_app.command("hash")
def keys_hash(
    key: Annotated[str, typer.Argument(help="The key to hash (give the key itself to its holder only).")],
) -> None:
    """Print the SHA-256 to put in APPROVAL_MONITOR_API_KEYS for a key."""
    from api.auth import hash_key

    print(hash_key(key))


@app.command()
def emit(
    file: Annotated[Path, typer.Option("--file", help="Events .jsonl to send, one JSON object per line.")],
    rejects: Annotated[Path | None, typer.Option(help="Where to keep lines refused before sending.")] = None,
) -> None:
    """Send events to the events topic as an agency system would: validated, keyed by case, acknowledged."""
    import orjson

    from rules.events import raw_fields
    from streams.emitter import Emitter

    rejects = rejects or file.with_name(file.name + ".rejects.jsonl")
    try:
        lines = file.read_bytes().splitlines()
    except OSError as e:
        err.print(f"[red]error:[/red] --file {file}: {e.strerror}")
        raise typer.Exit(2) from None
    objs: list[object] = []
    where: list[int] = []  # line index of each object sent
    bad: list[dict[str, object]] = []
    for i, line in enumerate(lines):
        try:
            objs.append(orjson.loads(line))
            where.append(i)
        except orjson.JSONDecodeError as e:
            bad.append({"line": i + 1, "event_id": None, "code": "bad_json", "reason": f"not valid JSON: {e}"})
    with Emitter(_bootstrap(), settings.events_topic) as emitter:
        results = emitter.send_many(objs)
    bad += [
        {"line": where[r.index] + 1, "event_id": r.event_id, "code": r.code, "reason": r.error}
        for r in results
        if not r.ok
    ]
    bad.sort(key=lambda b: b["line"])  # type: ignore[arg-type,return-value]
    with open(rejects, "wb") as f:
        for b in bad:
            b.update(raw_fields(lines[int(b["line"]) - 1]))  # type: ignore[call-overload]
            f.write(orjson.dumps(b) + b"\n")
    failed = sum(1 for b in bad if b["code"] == "send_failed")
    err.print(
        f"sent {len(lines) - len(bad)} events to {settings.events_topic}; {len(bad) - failed} refused, "
        f"{failed} not acknowledged" + (f" (reasons in {rejects})" if bad else "")
    )
    if failed:
        raise typer.Exit(1)


@rules_app.command("check")
def rules_check(pack_path: Annotated[Path, typer.Argument(metavar="PACK.yaml")]) -> None:
    """Validate a rule pack and print what it says."""
    from approval_monitor.describe import describe_pack

    pack = _load(pack_path)
    describe_pack(pack, out)


@rules_app.command("cn-holidays")
def cn_holidays(years: Annotated[list[int], typer.Argument(help="Years, e.g. 2026 2027.")]) -> None:
    """Print the holidays and make-up workdays of mainland China for a calendar's YAML."""
    from approval_monitor.holidays import china_holidays

    try:
        holidays, workdays = china_holidays(years)
    except (NotImplementedError, ValueError) as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    print("    holidays: [" + ", ".join(f'"{d}"' for d in holidays) + "]")
    print("    workdays: [" + ", ".join(f'"{d}"' for d in workdays) + "]")


@app.command()
def simulate(
    output: Annotated[Path, typer.Option("--output", help="Where to write the events (.jsonl).")],
    rules: Annotated[Path, typer.Option("--rules", help="Rule pack YAML.")] = settings.rules,
    cases: Annotated[int, typer.Option(min=1, help="How many cases.")] = 1000,
    start: Annotated[str, typer.Option(help="First submission instant (RFC 3339).")] = "2026-03-02T09:00:00+08:00",
    per_hour: Annotated[float, typer.Option(help="Cases submitted per working hour.", min=0.01)] = 40.0,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed writes the same file.")] = 1,
    noise: Annotated[float, typer.Option(help="Share of duplicates, malformed and late lines.", min=0, max=0.5)] = 0.01,
) -> None:
    """Write a realistic event stream for a rule pack."""
    from approval_monitor.simulate import Scenario, simulate_lines

    pack = _load(rules)
    scenario = Scenario(cases=cases, start=_instant(start, "--start"), per_hour=per_hour, seed=seed, noise=noise)
    n = 0
    with open(output, "wb") as f:
        for line in simulate_lines(pack, scenario):
            f.write(line + b"\n")
            n += 1
    err.print(f"wrote {n} lines for {cases} cases to {output}")


@app.command()
def run(
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: until Ctrl-C).")
    ] = None,
    per_minute: Annotated[float, typer.Option(help="Demo cases submitted per minute.", min=1)] = 20,
    workdir: Annotated[Path, typer.Option(help="Where the broker's and worker's logs go.")] = Path("var/run"),
) -> None:
    """The main job: broker (embedded unless KAFKA_BOOTSTRAP_SERVERS), worker, a live demo feed, alerts as raised."""
    from approval_monitor.demo import run_demo

    run_demo(settings, workdir, duration, per_minute)


@app.command("demo-replay")
def demo_replay(
    cases: Annotated[int, typer.Option(min=1, help="Cases in the simulated history.")] = 2000,
    out_dir: Annotated[Path, typer.Option(help="Where to keep the events, records and rejects.")] = Path("var/demo"),
) -> None:
    """Simulate a history on the sample pack and judge it in event time (no servers at all)."""
    from approval_monitor.replay_job import replay_file
    from approval_monitor.simulate import Scenario, simulate_lines

    pack = _load(settings.rules)
    out_dir.mkdir(parents=True, exist_ok=True)
    events, records, rejects = out_dir / "events.jsonl", out_dir / "records.jsonl", out_dir / "rejects.jsonl"
    scenario = Scenario(cases=cases, start=parse_instant("2026-03-02T09:00:00+08:00"), per_hour=20, seed=7, noise=0.01)
    with open(events, "wb") as f:
        for line in simulate_lines(pack, scenario):
            f.write(line + b"\n")
    until = parse_instant("2026-06-01T00:00:00+08:00")
    with open(events, "rb") as src, open(records, "wb") as o, open(rejects, "wb") as r:
        s = replay_file(pack, src, until, o, r)
    out.print(
        f"Judged {s.lines:,} events of {cases:,} simulated cases on {pack.source} as of {format_instant(until)}.",
        highlight=False,
    )
    table = Table()
    table.add_column("record kind")
    table.add_column("count", justify="right")
    for kind, n in sorted(s.records.items()):
        table.add_row(kind, f"{n:,}")
    table.add_row("[dim]rejected input lines[/dim]", f"{s.rejected:,}")
    out.print(table)
    out.print(f"Events: {events}\nRecords: {records}\nRejects (with reasons): {rejects}", highlight=False)


def main() -> None:
    app(prog_name="approval-monitor")


if __name__ == "__main__":
    sys.exit(main())
