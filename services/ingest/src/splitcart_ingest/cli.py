"""``splitcart ingest``: maintenance commands of the ingest service."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from splitcart_shared.db import Database
from splitcart_shared.logging import configure_logging

from splitcart_ingest.service import replay as replay_snapshots
from splitcart_ingest.settings import get_settings

app = typer.Typer(no_args_is_help=True)


@app.callback()
def ingest() -> None:
    """Ingest: the catalog of stores, products and prices."""


async def _replay(database_url: str, company: str | None, store_id: str | None) -> int:
    db = Database(database_url)
    try:
        applied: int = await replay_snapshots(db, company, store_id)
        return applied
    finally:
        await db.dispose()


@app.command()
def replay(
    company: Annotated[str | None, typer.Option(help="only this company's stores")] = None,
    store_id: Annotated[str | None, typer.Option(help="only this chain store id")] = None,
) -> None:
    """Rebuild current prices and price history from the stored raw snapshots."""
    settings = get_settings()
    configure_logging(settings.log_level, json=False)
    applied = asyncio.run(_replay(settings.database_url, company, store_id))
    typer.echo(f"replayed {applied} snapshots")
