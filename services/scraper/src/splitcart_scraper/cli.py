"""``splitcart scraper``: parse saved pages, sweep store locators, enrich barcodes."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import httpx
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from splitcart_shared.auth import bearer_headers
from splitcart_shared.bus import Bus
from splitcart_shared.events import COMPANIES, Company, EnrichedBarcode, Envelope, ProductsEnriched
from splitcart_shared.runtime import build_bus

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
    batch: Annotated[int, typer.Option(help="barcodes per products.enriched event")] = 50,
    limit: Annotated[int, typer.Option(help="stop after this many products (0: all)")] = 0,
) -> None:
    """Fetch product pages of products that lack a barcode and publish what they say.

    Resumable: products that got a barcode drop out of ingest's list, so a second run
    continues where the first stopped.
    """
    if company != "coles":
        raise typer.BadParameter(
            "barcode enrichment reads Coles product pages; use --company coles"
        )
    settings = ScraperSettings()
    if settings.embedded:
        raise typer.BadParameter("enrich-barcodes publishes to RabbitMQ: set SPLITCART_AMQP_URL")
    asyncio.run(_enrich(settings, "coles", batch, limit))


async def _enrich(settings: ScraperSettings, company: Company, batch: int, limit: int) -> None:
    bus = build_bus(settings)
    await bus.start()
    adapter = get_adapter(company)
    ingest = httpx.AsyncClient(base_url=settings.ingest_url, headers=bearer_headers(settings))
    try:
        todo = await _missing(ingest, company, limit)
        with _progress() as progress:
            task = progress.add_task("barcodes", total=len(todo))
            found = await _fetch_all(adapter, bus, company, todo, batch, progress, task)
        typer.echo(f"{found} barcodes found for {len(todo)} products")
    finally:
        await ingest.aclose()
        await adapter.aclose()
        await bus.close()


async def _missing(ingest: httpx.AsyncClient, company: str, limit: int) -> list[dict[str, Any]]:
    products: list[dict[str, Any]] = []
    offset = 0
    while True:
        response = await ingest.get(
            "/v1/products",
            params={"company": company, "missing_barcode": "true", "limit": PAGE, "offset": offset},
        )
        response.raise_for_status()
        body = response.json()
        items = body["items"] if isinstance(body, dict) else body
        products.extend(items)
        if len(items) < PAGE or (limit and len(products) >= limit):
            return products[:limit] if limit else products
        offset += PAGE


async def _fetch_all(
    adapter: Any,
    bus: Bus,
    company: Company,
    todo: list[dict[str, Any]],
    batch: int,
    progress: Progress,
    task: Any,
) -> int:
    pending: list[EnrichedBarcode] = []
    found = 0
    for product in todo:
        barcode = await adapter.fetch_barcode(product.get("url") or product["sku"])
        if barcode:
            pending.append(EnrichedBarcode(sku=product["sku"], barcode=barcode))
            found += 1
        if len(pending) >= batch:
            await _publish(bus, company, pending)
            pending = []
        progress.advance(task)
    if pending:
        await _publish(bus, company, pending)
    return found


async def _publish(bus: Bus, company: Company, barcodes: list[EnrichedBarcode]) -> None:
    event = ProductsEnriched(company=company, barcodes=barcodes)
    await bus.publish(Envelope.wrap(event, producer="scraper"))


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
