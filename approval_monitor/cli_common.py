"""What every command shares: the Typer app, settings read when a command runs, and clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from approval_monitor.packs import load_pack
from approval_monitor.settings import (
    KafkaSettings,
    Section,
)
from rules.pack import PackError, RulePack
from rules.timeutil import TimestampError, parse_instant

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="E-supervision of administrative approvals (行政审批电子监察)."
)
rules_app = typer.Typer(no_args_is_help=True, help="Rule packs: check them, build their calendars.")
app.add_typer(rules_app, name="rules")
err = Console(stderr=True)
out = Console()
S = TypeVar("S", bound=Section)


def section(kind: type[S]) -> S:
    """One settings section, read from the environment now; a bad variable is one line and exit code 2."""
    try:
        return kind()
    except ValidationError as e:
        for problem in e.errors():
            name = str(problem["loc"][0]) if problem["loc"] else "?"
            field = kind.model_fields.get(name)
            var = name if name.isupper() else f"APPROVAL_MONITOR_{name.upper()}"
            if name == "kafka_bootstrap_servers":
                var = "KAFKA_BOOTSTRAP_SERVERS"
            what = f" ({field.description.rstrip('.')})" if field is not None and field.description else ""
            err.print(
                f"[red]error:[/red] {var}={problem.get('input')!r}: {problem['msg']}; fix or unset it{what}",
                highlight=False,
                soft_wrap=True,
            )
        raise typer.Exit(2) from None


def check_sections(*kinds: type[Section]) -> None:
    """Check every section a command will read before it starts anything."""
    for kind in kinds:
        section(kind)


def load_rules(path: Path) -> RulePack:
    try:
        return load_pack(path)
    except PackError as e:
        err.print(f"[red]error:[/red] rule pack {e.source} is invalid:", highlight=False)
        for p in e.problems:
            err.print(f"  - {p}", highlight=False, markup=False)
        raise typer.Exit(2) from None


def instant(text: str, flag: str) -> int:
    try:
        return parse_instant(text)
    except TimestampError as e:
        err.print(f"[red]error:[/red] {flag} {e}", highlight=False)
        raise typer.Exit(2) from None


keys_app = typer.Typer(no_args_is_help=True, help="API keys.")
app.add_typer(keys_app, name="keys")


def bootstrap() -> str:
    given = section(KafkaSettings).kafka_bootstrap_servers
    if not given:
        err.print("[red]error:[/red] KAFKA_BOOTSTRAP_SERVERS is not set; give host:port of a Kafka broker")
        raise typer.Exit(2)
    return given
