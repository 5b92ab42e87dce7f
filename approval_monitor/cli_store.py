"""Commands on the store itself: bringing an older Elasticsearch layout up to date."""

from __future__ import annotations

import asyncio

import typer

from approval_monitor.cli_common import app, err, out, section
from approval_monitor.settings import StoreSettings

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
