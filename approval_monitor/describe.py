"""A readable summary of a rule pack, for `approval-monitor rules check`.

Laid out to stay legible in an 80-column terminal: calendars as lines, then one
small steps table per item under a heading that carries the case-level rules.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from rules.calendar import BusinessCalendar
from rules.pack import RulePack

_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _hours(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    h = seconds / 3600
    return f"{h:g} h" if seconds % 36 == 0 else f"{h:.4f} h ({seconds} s)"


def _window(span: tuple[int, int]) -> str:
    s, e = span
    return f"{s // 3600:02}:{s % 3600 // 60:02}-{e // 3600:02}:{e % 3600 // 60:02}"


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
            f"{len(cal.holidays)} holidays, {len(cal.workdays)} make-up workdays",
            highlight=False,
        )
    for item in pack.items.values():
        rules = [f"calendar {item.calendar_name or 'natural time'}", f"case limit {_hours(item.limit)}"]
        if item.fee_limit is not None:
            rules.append(f"fees up to ¥{item.fee_limit}")
        if item.max_suspension is not None:
            rules.append(f"suspension up to {_hours(item.max_suspension)}")
        if item.max_report_delay is not None:
            rules.append(f"reports within {_hours(item.max_report_delay)}")
        console.print(f"\n[bold]{item.code}[/bold] {item.name or ''}\n  " + ", ".join(rules), highlight=False)
        table = Table(box=None, padding=(0, 2), show_edge=False)
        for col in ("step", "limit", "reminder", "warning", "after"):
            table.add_column(col, overflow="fold")
        for st in item.steps:
            table.add_row(
                st.name + (" (optional)" if st.optional else ""),
                _hours(st.limit),
                _hours(st.reminder),
                _hours(st.warning),
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
    console.print("\npenalty points: " + ", ".join(f"{k} {v}" for k, v in pack.points.items()), highlight=False)
