"""Commands that need no servers: replay, simulate, rule packs, keys, the replay demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from approval_monitor.cli_common import (
    app,
    err,
    instant,
    keys_app,
    load_rules,
    out,
    rules_app,
    section,
)
from approval_monitor.settings import (
    CoreSettings,
)
from rules.timeutil import format_instant, parse_instant


@app.command()
def replay(
    rules: Annotated[Path, typer.Option("--rules", help="Rule pack YAML.")],
    events: Annotated[str, typer.Option("--events", help="Events .jsonl file, or - for stdin.")],
    until: Annotated[str, typer.Option("--until", help="Evaluation instant (RFC 3339 with offset), exclusive.")],
    output: Annotated[Path, typer.Option("--output", help="Where to write records (.jsonl).")],
    rejects: Annotated[Path, typer.Option("--rejects", help="Where to write rejected lines (.jsonl).")],
    chunk_events: Annotated[
        int | None,
        typer.Option(
            help="Events sorted in memory before spilling a run [default: APPROVAL_MONITOR_CHUNK_EVENTS, 250000].",
            min=1000,
        ),
    ] = None,
    retain_days: Annotated[
        float | None,
        typer.Option(
            help="Days of event time a completed case is remembered [default: APPROVAL_MONITOR_RETAIN_DAYS, 7].",
            min=0,
        ),
    ] = None,
    workers: Annotated[int, typer.Option(help="Processes, each judging the cases that hash to it (exact).", min=1)] = 1,
) -> None:
    """Judge a history of events as of --until, exactly as the live pipeline would."""
    from approval_monitor.replay_job import open_events, replay_file, replay_parallel

    core = section(CoreSettings)
    chunk_events = core.chunk_events if chunk_events is None else chunk_events
    retain_days = core.retain_days if retain_days is None else retain_days
    pack = load_rules(rules)
    until_t = instant(until, "--until")
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


@keys_app.command("hash")
def keys_hash(
    key: Annotated[str, typer.Argument(help="The key to hash (give the key itself to its holder only).")],
) -> None:
    """Print the SHA-256 to put in APPROVAL_MONITOR_API_KEYS for a key."""
    from api.auth import hash_key

    print(hash_key(key))


@keys_app.command("webhook-key")
def keys_webhook_key() -> None:
    """Print a new key for APPROVAL_MONITOR_WEBHOOK_SECRET_KEY (seals webhook secrets at rest; API and deliverer)."""
    from streams.webhook_secrets import new_key

    print(new_key())


@rules_app.command("check")
def rules_check(
    pack_path: Annotated[Path, typer.Argument(metavar="PACK.yaml")],
    against: Annotated[
        Path | None, typer.Option("--against", metavar="OLD.yaml", help="Print what changed from this pack.")
    ] = None,
) -> None:
    """Validate a rule pack and print what it says (and, with --against, what it changes)."""
    from approval_monitor.describe import describe_pack
    from approval_monitor.pack_diff import pack_changes

    pack = load_rules(pack_path)
    describe_pack(pack, out)
    if against is not None:
        changes = pack_changes(load_rules(against), pack)
        out.print(f"\n[bold]changes from {against}[/bold]" + ("" if changes else ": none"), highlight=False)
        for line in changes:
            out.print(f"  {line}", highlight=False, markup=False)


@rules_app.command("cn-holidays")
def cn_holidays(years: Annotated[list[int], typer.Argument(help="Years, e.g. 2026 2027.")]) -> None:
    """Print the holidays and make-up workdays of mainland China for a calendar's YAML.

    Years the State Council has not published yet get a PROVISIONAL list from the national rules
    (全国年节及纪念日放假办法): the statutory days off on weekdays, without 调休; confirm it against the notice.
    """
    from approval_monitor.holidays import china_holidays, provisional_holidays

    official: list[int] = []
    provisional: list[int] = []
    holidays, workdays = [], []
    for year in sorted(set(years)):
        try:
            h, w = china_holidays([year])
        except NotImplementedError:
            provisional.append(year)
            continue
        except ValueError as e:
            err.print(f"[red]error:[/red] {e}")
            raise typer.Exit(2) from None
        official.append(year)
        holidays += h
        workdays += w
    guessed = provisional_holidays(provisional)
    holidays = sorted(holidays + [d for d, _ in guessed])
    if provisional:
        named = ", ".join(f"{d} {n}" for d, n in guessed)
        print(f"    # PROVISIONAL {', '.join(map(str, provisional))}: from the national holiday rules, without 调休; "
              f"replace with the State Council's notice when it is published: {named}")  # fmt: skip
    print("    holidays: [" + ", ".join(f'"{d}"' for d in holidays) + "]")
    print("    workdays: [" + ", ".join(f'"{d}"' for d in workdays) + "]")


@app.command()
def simulate(
    output: Annotated[Path, typer.Option("--output", help="Where to write the events (.jsonl).")],
    rules: Annotated[
        Path | None,
        typer.Option("--rules", help="Rule pack YAML [default: APPROVAL_MONITOR_RULES or the sample pack]."),
    ] = None,
    cases: Annotated[int, typer.Option(min=1, help="How many cases.")] = 1000,
    start: Annotated[str, typer.Option(help="First submission instant (RFC 3339).")] = "2026-03-02T09:00:00+08:00",
    per_hour: Annotated[float, typer.Option(help="Cases submitted per working hour.", min=0.01)] = 40.0,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed writes the same file.")] = 1,
    noise: Annotated[float, typer.Option(help="Share of duplicates, malformed and late lines.", min=0, max=0.5)] = 0.01,
) -> None:
    """Write a realistic event stream for a rule pack."""
    from approval_monitor.simulate import Scenario, simulate_lines

    pack = load_rules(rules or section(CoreSettings).rules)
    scenario = Scenario(cases=cases, start=instant(start, "--start"), per_hour=per_hour, seed=seed, noise=noise)
    n = 0
    with open(output, "wb") as f:
        for line in simulate_lines(pack, scenario):
            f.write(line + b"\n")
            n += 1
    err.print(f"wrote {n} lines for {cases} cases to {output}")


@app.command("demo-replay")
def demo_replay(
    cases: Annotated[int, typer.Option(min=1, help="Cases in the simulated history.")] = 2000,
    out_dir: Annotated[Path, typer.Option(help="Where to keep the events, records and rejects.")] = Path("var/demo"),
) -> None:
    """Simulate a history on the sample pack and judge it in event time (no servers at all)."""
    from approval_monitor.replay_job import replay_file
    from approval_monitor.simulate import Scenario, simulate_lines

    pack = load_rules(section(CoreSettings).rules)
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
