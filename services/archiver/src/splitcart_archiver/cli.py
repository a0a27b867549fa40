"""``splitcart archive``: build archives on demand (entry point ``splitcart.cli``)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from splitcart_shared.db import Database
from splitcart_shared.errors import DomainError
from splitcart_shared.logging import configure_logging
from splitcart_shared.outbox import Outbox

from splitcart_archiver.builder import BuiltArchive
from splitcart_archiver.models import messaging
from splitcart_archiver.service import Archiver
from splitcart_archiver.settings import ArchiverSettings, get_settings

app = typer.Typer(help="JSON archives: company and store files with full price history")


@app.callback()
def archive() -> None:
    """JSON archives: company and store files with full price history."""
    # A callback keeps ``build`` a sub-command even while it is the only one.


class BarProgress:
    """Feeds the archiver's progress into a rich progress bar."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = progress.add_task("archives", total=None)
        self.bytes = 0

    def total(self, count: int) -> None:
        self.progress.update(self.task, total=count)

    def advance(self, built: BuiltArchive) -> None:
        self.bytes += built.bytes
        label = built.store_id or f"{built.company} (company)"
        self.progress.update(self.task, advance=1, description=label)


async def run_build(
    settings: ArchiverSettings, company: str | None, store: str | None, bar: BarProgress
) -> list[BuiltArchive]:
    db = Database(settings.database_url)
    try:
        # No relay here: the running archiver's relay publishes these outbox rows.
        archiver = Archiver(db, settings, Outbox(messaging, producer="archiver"))
        built: list[BuiltArchive] = await archiver.build(company, store, bar)
        return built
    finally:
        await db.dispose()


@app.command()
def build(
    company: Annotated[str | None, typer.Option(help="only this company")] = None,
    store: Annotated[str | None, typer.Option(help="only this store (needs --company)")] = None,
) -> None:
    """Build archives now: everything, one company (with all its stores) or one store."""
    settings = get_settings()
    configure_logging("WARNING", json=False)
    columns = (
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns) as progress:
        bar = BarProgress(progress)
        try:
            built = asyncio.run(run_build(settings, company, store, bar))
        except DomainError as exc:
            raise typer.BadParameter(exc.message) from exc
    megabytes = bar.bytes / 1e6
    typer.echo(f"built {len(built)} archives ({megabytes:.1f} MB) under {settings.archive_root}")
