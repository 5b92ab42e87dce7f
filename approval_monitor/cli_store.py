"""Commands on the store itself: verifying the record trail, bringing an older Elasticsearch layout up to date."""

from __future__ import annotations

import asyncio
from typing import Any

import typer

from approval_monitor.cli_common import app, err, out, section
from approval_monitor.settings import KafkaSettings, StoreSettings

store_app = typer.Typer(no_args_is_help=True, help="The store (APPROVAL_MONITOR_STORE_URL).")
app.add_typer(store_app, name="store")


@store_app.command("migrate")
def migrate() -> None:
    """Copy Elasticsearch indices of an older layout into the current one and move the aliases.

    Stop the sink and the API first; run again if interrupted.  The embedded SQLite store needs
    nothing: it brings its own file up to date when opened."""
    from elasticsearch import ApiError, TransportError

    from store.elastic import ElasticStore
    from store.elastic_migrate import migrate as copy_forward
    from store.factory import open_store

    store = open_store(section(StoreSettings).store())

    async def go() -> dict[str, int]:
        try:
            if isinstance(store, ElasticStore):
                return await copy_forward(store)
            await store.setup()
            return {}
        finally:
            await store.close()

    try:
        done = asyncio.run(go())
    except (ApiError, TransportError) as e:  # a store that does not answer or refuses: one line
        err.print(f"[red]error:[/red] APPROVAL_MONITOR_STORE_URL: {type(e).__name__}: {e}", highlight=False)
        raise typer.Exit(1) from None
    for index, n in done.items():
        out.print(f"copied {n} documents from {index}", highlight=False)
    out.print("the store is up to date" if done else "nothing to migrate: the store is up to date")


@app.command()
def verify() -> None:
    """Recompute the record trail from the store and check it against the anchors on Kafka.

    Exit 0: every chain is whole and agrees with every anchor; exit 1 names the first entry that was
    edited, deleted, inserted or reordered, or a truncated tail; exit 2: the store or Kafka could not be
    read, so nothing was verified.  The report is kept in the store (GET /v1/integrity shows it)."""
    from elasticsearch import ApiError, TransportError
    from kafka.errors import KafkaError

    from rules.chain import Anchor
    from rules.errors import MonitorError
    from store.factory import open_store
    from store.verify import verify_store
    from streams.trail import read_anchors

    kafka = section(KafkaSettings)
    store = open_store(section(StoreSettings).store())
    anchors: list[Anchor] | None = None
    unreadable = (MonitorError, ApiError, TransportError, KafkaError, OSError, TimeoutError)
    if kafka.kafka_bootstrap_servers:
        try:
            anchors = read_anchors(kafka.kafka_bootstrap_servers, kafka.topics().anchors)
        except unreadable as e:
            err.print(f"[red]error:[/red] the anchors on Kafka could not be read: {e}; nothing was verified")
            raise typer.Exit(2) from None
    else:
        err.print("[yellow]warning:[/yellow] no KAFKA_BOOTSTRAP_SERVERS: the chains are checked, not the anchors")

    async def go() -> dict[str, Any]:
        try:
            await store.setup()
            report = await verify_store(store, anchors)
            await store.put_integrity(report)
            return report
        finally:
            await store.close()

    try:
        report = asyncio.run(go())
    except unreadable as e:
        err.print(f"[red]error:[/red] APPROVAL_MONITOR_STORE_URL could not be read: {e}; nothing was verified")
        raise typer.Exit(2) from None
    last = report["last_anchor"]
    checked = f"{report['anchors_checked']} anchors checked" + (f", the last of {last['at']}" if last else "")
    if report["ok"]:
        out.print(f"trail verified: {report['entries']} entries in {len(report['chains'])} chains; {checked}")
        return
    for f in report["findings"]:
        where = "" if f["partition"] is None else f" (partition {f['partition']}, entry {f['n']})"
        err.print(f"[red]{f['kind']}[/red]{where}: {f['detail']}", highlight=False)
    raise typer.Exit(1)
