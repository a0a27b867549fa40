"""``splitcart scraper``: parse saved pages, sweep store locators, enrich barcodes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from splitcart_shared.auth import bearer_headers
from splitcart_shared.bus import Bus, Unroutable
from splitcart_shared.events import COMPANIES, Company, EnrichedBarcode, Envelope, ProductsEnriched
from splitcart_shared.runtime import build_bus

from splitcart_scraper.adapters import (
    AdapterError,
    BlockedError,
    ColesAdapter,
    NetworkOutageError,
    SessionRequiredError,
)
from splitcart_scraper.adapters.registry import get_adapter
from splitcart_scraper.parse_cli import parse
from splitcart_scraper.settings import ScraperSettings
from splitcart_scraper.worker import discover as discover_company

PAGE = 200

app = typer.Typer(
    help="The scraper's tools: parse saved pages, sweep store locators, enrich barcodes.",
    no_args_is_help=True,
)
app.command("parse")(parse)


@app.command("discover")
def discover(company: Annotated[list[str], typer.Option(help="companies to sweep")]) -> None:
    """Sweep store locators now and publish ``stores.discovered`` (needs SPLITCART_AMQP_URL)."""
    settings = ScraperSettings()
    if settings.embedded:
        raise typer.BadParameter("discover publishes to RabbitMQ: set SPLITCART_AMQP_URL")

    async def run() -> None:
        bus = build_bus(settings)
        await bus.start()
        try:
            for name in company:
                if name not in COMPANIES:
                    raise typer.BadParameter(f"unknown company {name!r}; one of {COMPANIES}")
                adapter = get_adapter(name)
                try:
                    typer.echo(f"{name}: {await discover_company(adapter, bus)} stores")
                finally:
                    await adapter.aclose()
        finally:
            await bus.close()

    asyncio.run(run())


@app.command("enrich-barcodes")
def enrich_barcodes(
    company: Annotated[str, typer.Option(help="only coles product pages carry barcodes")] = "coles",
    batch: Annotated[int, typer.Option(min=1, help="barcodes per products.enriched event")] = 50,
    limit: Annotated[int, typer.Option(min=0, help="stop after this many products (0: all)")] = 0,
) -> None:
    """Fetch product pages of products that lack a barcode and publish what they say.

    Resumable: products that got a barcode drop out of ingest's list, so a second run
    continues where the first stopped.
    """
    if company.lower() != "coles":
        raise typer.BadParameter(
            f"barcode enrichment reads Coles product pages, not {company}'s; use --company coles",
            param_hint="--company",
        )
    settings = ScraperSettings()
    if settings.embedded:
        raise typer.BadParameter(
            "enrich-barcodes publishes products.enriched to the RabbitMQ broker ingest "
            "consumes from: set SPLITCART_AMQP_URL",
            param_hint="SPLITCART_AMQP_URL",
        )
    try:
        run = asyncio.run(_enrich(settings, "coles", batch, limit))
    except EnrichmentError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(run.summary())
    if run.failed or run.stopped:
        raise typer.Exit(1)


class EnrichmentError(Exception):
    """Ingest or the broker cannot be used; the message says which and what to check."""


@dataclass
class Enrichment:
    """What one run did with the to-do list ingest gave it."""

    company: Company
    todo: int = 0
    found: int = 0
    without: int = 0  # product pages that carry no barcode
    failed: dict[str, str] = field(default_factory=dict)  # sku -> why its page failed
    stopped: str | None = None  # why the run ended before the end of the list

    def summary(self) -> str:
        if not self.todo:
            return f"{self.company}: no product lacks a barcode; nothing to do"
        lines = [
            f"{self.company}: {self.found} barcodes published for {self.todo} products "
            f"({self.without} pages without a barcode, {len(self.failed)} failed)"
        ]
        lines += [f"  {sku}: {error}" for sku, error in list(self.failed.items())[:10]]
        if self.stopped:
            lines.append(f"stopped early: {self.stopped}")
        if self.failed or self.stopped:
            lines.append("products not done stay on ingest's list: run again to retry them")
        return "\n".join(lines)


async def _enrich(
    settings: ScraperSettings, company: Company, batch: int, limit: int
) -> Enrichment:
    bus = build_bus(settings)
    adapter = get_adapter(company)
    ingest = httpx.AsyncClient(
        base_url=settings.ingest_url, headers=bearer_headers(settings), timeout=30.0
    )
    try:
        assert isinstance(adapter, ColesAdapter), "only Coles product pages carry barcodes"
        with progress_bar() as progress:
            return await enrich(ingest, adapter, bus, company, batch, limit, progress)
    finally:
        await ingest.aclose()
        await adapter.aclose()
        await bus.close()


async def enrich(
    ingest: httpx.AsyncClient,
    adapter: ColesAdapter,
    bus: Bus,
    company: Company,
    batch: int = 50,
    limit: int = 0,
    progress: Progress | None = None,
) -> Enrichment:
    """Ask ingest what lacks a barcode, read those product pages, publish the barcodes.

    ``bus`` is started only when there is work. A page that fails is reported and left on
    ingest's list; a blocked site or a network outage ends the run after publishing what
    was found so far.
    """
    todo = await missing_barcodes(ingest, company, limit)
    run = Enrichment(company, todo=len(todo))
    if not todo:
        return run
    await _start(bus)
    task = progress.add_task(company, total=len(todo), found=0, failed=0) if progress else None
    pending: list[EnrichedBarcode] = []
    try:
        for product in todo:
            try:
                pending += await _read_page(adapter, product, run)
            except FATAL as exc:
                run.stopped = _why_stopped(exc)
                break
            if len(pending) >= batch:
                await _publish(bus, company, pending)
                pending = []
            if progress is not None and task is not None:
                progress.update(task, advance=1, found=run.found, failed=len(run.failed))
    finally:
        # Interrupted (Ctrl-C) or not, no barcode already read is thrown away.
        await _publish(bus, company, pending)
    return run


async def _read_page(
    adapter: ColesAdapter, product: dict[str, Any], run: Enrichment
) -> list[EnrichedBarcode]:
    """The product's barcode if its page has one; a page that failed is noted in ``run``."""
    sku = str(product["sku"])
    try:
        barcode = await adapter.fetch_barcode(product.get("url") or sku)
    except FATAL:
        raise
    except AdapterError as exc:
        run.failed[sku] = str(exc)
        return []
    if barcode is None:
        run.without += 1
        return []
    run.found += 1
    return [EnrichedBarcode(sku=sku, barcode=barcode)]


def _why_stopped(exc: Exception) -> str:
    if isinstance(exc, BlockedError):
        return f"{exc} (import a fresh cookie jar: SPLITCART_COLES_COOKIE_JAR)"
    return str(exc)


# The whole site is out of reach: every further page would fail the same way.
FATAL = (BlockedError, SessionRequiredError, NetworkOutageError)


async def missing_barcodes(
    ingest: httpx.AsyncClient, company: str, limit: int = 0
) -> list[dict[str, Any]]:
    """Ingest's products of ``company`` without a barcode (the first ``limit``; 0: all)."""
    products: list[dict[str, Any]] = []
    offset = 0
    while True:
        params = {"company": company, "missing_barcode": "true", "limit": PAGE, "offset": offset}
        items = (await _ingest_get(ingest, "/v1/products", params))["items"]
        products.extend(items)
        if len(items) < PAGE or (limit and len(products) >= limit):
            return products[:limit] if limit else products
        offset += PAGE


async def _ingest_get(ingest: httpx.AsyncClient, path: str, params: dict[str, Any]) -> Any:
    url = f"{ingest.base_url}{path.lstrip('/')}"
    try:
        response = await ingest.get(path, params=params)
    except httpx.TransportError as exc:
        raise EnrichmentError(
            f"cannot reach ingest at {url} ({exc.__class__.__name__}: {exc}); "
            "is it running, and is SPLITCART_INGEST_URL right?"
        ) from exc
    if response.status_code != 200:
        raise EnrichmentError(
            f"ingest answered HTTP {response.status_code} at {url}: {response.text[:300]}"
        )
    return response.json()


async def _start(bus: Bus) -> None:
    try:
        await bus.start()
    except ConnectionError as exc:
        raise EnrichmentError(
            f"cannot reach the broker ({exc.__class__.__name__}: {exc}); "
            "is RabbitMQ up at SPLITCART_AMQP_URL?"
        ) from exc


async def _publish(bus: Bus, company: Company, barcodes: list[EnrichedBarcode]) -> None:
    if not barcodes:
        return
    event = ProductsEnriched(company=company, barcodes=barcodes)
    try:
        await bus.publish(Envelope.wrap(event, producer="scraper"))
    except (ConnectionError, Unroutable) as exc:
        raise EnrichmentError(
            f"could not publish {len(barcodes)} barcodes as products.enriched "
            f"({exc.__class__.__name__}: {exc}); is ingest consuming from SPLITCART_AMQP_URL?"
        ) from exc


def progress_bar(console: Console | None = None) -> Progress:
    """Products done of the to-do list, with barcodes found and pages failed (on stderr)."""
    return Progress(
        TextColumn("[bold]{task.description} barcodes"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("· {task.fields[found]} found, {task.fields[failed]} failed"),
        TimeRemainingColumn(),
        console=console or Console(stderr=True),
    )
