"""A readable summary of a rule pack, for `approval-monitor rules check`.

Laid out to stay legible in an 80-column terminal: calendars as lines, then one
small steps table per item under a heading that carries the case-level rules.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.table import Table

from rules.calendar import BusinessCalendar
from rules.coverage import warnings as coverage_warnings
from rules.pack import Item, RulePack
from rules.timeutil import format_instant

_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _hours(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    h = seconds / 3600
    return f"{h:g} h" if seconds % 36 == 0 else f"{h:.4f} h ({seconds} s)"


def _fraction(f: object) -> str:
    return "-" if f is None else f"×{f}"


def _window(span: tuple[int, int]) -> str:
    s, e = span
    return f"{s // 3600:02}:{s % 3600 // 60:02}-{e // 3600:02}:{e % 3600 // 60:02}"


def days_text(days: int, natural: bool) -> str:
    """A day limit as the law states it."""
    return f"{days} 日（自然日）" if natural else f"{days} 个工作日"


def limit_text(item: Item, seconds: int | None, days: int | None) -> str:
    return days_text(days, item.natural_days) if days is not None else _hours(seconds)


def version_text(item: Item) -> str:
    starts = "from the beginning" if item.effective_from is None else f"from {format_instant(item.effective_from)}"
    return f"version {item.version} ({starts})"


def describe_pack(pack: RulePack, console: Console) -> None:
    console.print(
        f"[green]ok[/green] {pack.source}: {len(pack.items)} items, {len(pack.calendars)} calendars, "
        f"sha256 {pack.digest[:12]}",
        highlight=False,
    )
    for name, cal in pack.calendars.items():
        assert isinstance(cal, BusinessCalendar)
        console.print(
            f"calendar [bold]{name}[/bold]: {cal.timezone}, {' '.join(_window(w) for w in cal.windows)}, "
            f"{' '.join(_DAYS[d] for d in sorted(cal.weekdays))} ({cal.weekly_hours():g} h/week), "
            f"{len(cal.holidays)} holidays, {len(cal.workdays)} make-up workdays"
            + ("" if cal.covered_year is None else f", covers to {cal.covered_year}")
            + (f" ({', '.join(map(str, sorted(cal.provisional)))} provisional)" if cal.provisional else ""),
            highlight=False,
        )
    for item in (i for versions in pack.versions.values() for i in versions):
        rules = [
            f"calendar {item.calendar_name or 'natural time'}",
            f"case limit {limit_text(item, item.limit, item.limit_days)}",
            f"{item.max_extensions} extension(s) per clock",
        ]
        if item.fee_limit is not None:
            rules.append(f"fees up to ¥{item.fee_limit}")
        if item.max_suspension is not None:
            rules.append(f"suspension up to {_hours(item.max_suspension)}")
        if item.max_report_delay is not None:
            rules.append(f"reports within {_hours(item.max_report_delay)}")
        head = f"\n[bold]{item.code}[/bold] {item.name or ''} — {version_text(item)}"
        console.print(head + "\n  " + ", ".join(rules), highlight=False)
        table = Table(box=None, padding=(0, 2), show_edge=False)
        for col in ("step", "limit", "reminder", "warning", "after"):
            table.add_column(col, overflow="fold")
        for st in item.steps:
            table.add_row(
                st.name + (" (optional)" if st.optional else ""),
                limit_text(item, st.limit, st.limit_days),
                _hours(st.reminder) if st.limit_days is None else _fraction(item.reminder_at),
                _hours(st.warning) if st.limit_days is None else _fraction(item.warning_at),
                ", ".join(st.required_before) or "—",
            )
        console.print(table)
    if pack.suspension_kinds:
        kinds = ", ".join(
            f"{k} ({'capped' if c else 'not counted toward the cap'})" for k, c in pack.suspension_kinds.items()
        )
        console.print(f"\nsuspension kinds: {kinds}", highlight=False)
    console.print(f"events stamped up to {pack.future_tolerance} s after their arrival are accepted", highlight=False)
    for note in pack.notes:
        console.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    for warning in coverage_warnings(pack, int(time.time())):
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    console.print("\npenalty points: " + ", ".join(f"{k} {v}" for k, v in pack.points.items()), highlight=False)
