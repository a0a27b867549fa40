"""What ingest does with each event, and the replay that rebuilds prices from snapshots.

Nothing here commits: a consumer's handler (or the replay's own transactions) is the unit of
work, so a scrape is applied completely or not at all.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from splitcart_shared.clock import clock, utc
from splitcart_shared.db import Database
from splitcart_shared.events import (
    ProductsEnriched,
    ScrapeKind,
    ScrapeRejected,
    StoreIngested,
    StoreRecord,
    StoreScraped,
    StoresDiscovered,
)
from splitcart_shared.logging import get_logger
from splitcart_shared.outbox import Outbox
from sqlalchemy.ext.asyncio import AsyncSession

from splitcart_ingest.catalogue import Catalogue, Refused, decode_products, decode_snapshot
from splitcart_ingest.repository import Candidate, NewProduct, Repository, StoreRef

log = get_logger(__name__)

COMPANY_NAMES = {"coles": "Coles", "woolworths": "Woolworths", "aldi": "ALDI", "iga": "IGA"}
# A full scrape listing fewer than this share of the retailer's own total is truncated.
MIN_COMPLETENESS = 0.98


@dataclass(frozen=True)
class ApplyCounts:
    products: int
    new_products: int
    new_prices: int
    changed_prices: int
    delisted: int


# --- stores.discovered --------------------------------------------------------------------


async def apply_discovery(session: AsyncSession, sweep: StoresDiscovered) -> None:
    """Upsert the sweep's stores; a complete sweep closes the company's stores it lacks."""
    repo, now, swept_at = Repository(session), clock.now(), utc(sweep.swept_at)
    name = COMPANY_NAMES.get(sweep.company, sweep.company)
    previous = await repo.lock_company(sweep.company, name, now)
    if previous is not None and utc(previous) >= swept_at:
        log.info("stores.sweep_superseded", company=sweep.company, swept_at=swept_at.isoformat())
        return
    records = {record.store_id: record for record in sweep.stores}  # last one wins
    division_ids = await repo.upsert_divisions(
        sweep.company, {r.division for r in records.values()}, now
    )
    rows = [
        store_row(sweep.company, r, division_ids[r.division], swept_at, now)
        for r in records.values()
    ]
    await repo.upsert_stores(rows)
    closed = 0
    if sweep.complete:
        closed = await repo.close_missing_stores(sweep.company, list(records), swept_at)
    await repo.mark_swept(sweep.company, swept_at)
    log.info("stores.swept", company=sweep.company, stores=len(rows), closed=closed)


def store_row(
    company: str, record: StoreRecord, division_id: int, swept_at: datetime, now: datetime
) -> dict[str, Any]:
    latitude, longitude = coordinates(record.latitude, record.longitude)
    return {
        "company": company,
        "store_id": record.store_id,
        "name": record.name,
        "division_id": division_id,
        "address": record.address,
        "suburb": record.suburb,
        "state": record.state.upper() if record.state else None,
        "postcode": record.postcode,
        "latitude": latitude,
        "longitude": longitude,
        "retailer_store_id": record.retailer_store_id,
        "scrapable": record.scrapable,
        "is_open": True,
        "first_seen": now,
        "last_swept_at": swept_at,
    }


def coordinates(lat: float | None, lng: float | None) -> tuple[float | None, float | None]:
    """Retailers say "0" for unknown; a point off the globe is unknown too."""
    if not lat or not lng or not (-90 <= lat <= 90 and -180 <= lng <= 180):
        return None, None
    return lat, lng


# --- store.scraped ------------------------------------------------------------------------


async def ingest_scrape(
    session: AsyncSession, outbox: Outbox, scrape: StoreScraped, event_id: uuid.UUID
) -> StoreIngested | ScrapeRejected:
    """Apply a scrape completely, or refuse it writing nothing but ``scrape.rejected``."""
    repo = Repository(session)
    try:
        store, catalogue = await accept(repo, scrape)
    except Refused as refused:
        rejected = rejection(scrape, event_id, refused)
        await outbox.add(session, rejected)
        log.warning("scrape.rejected", company=scrape.company, reason=refused.reason)
        return rejected
    scraped_at = utc(scrape.scraped_at)
    counts = await apply_staged(repo, store, scrape.kind, scraped_at, catalogue.count)
    await repo.insert_snapshot(snapshot_values(scrape, event_id, store, catalogue))
    ingested = StoreIngested(
        company=scrape.company,
        store_id=store.store_id,
        kind=scrape.kind,
        scraped_at=scraped_at,
        lease_token=scrape.lease_token,
        source_event_id=event_id,
        products=counts.products,
        new_products=counts.new_products,
        changed_prices=counts.changed_prices,
        delisted=counts.delisted,
    )
    await outbox.add(session, ingested)
    return ingested


async def accept(repo: Repository, scrape: StoreScraped) -> tuple[StoreRef, Catalogue]:
    """The store and staged catalogue of an acceptable scrape; :class:`Refused` otherwise.

    The catalogue is validated as it is staged: the staging table is temporary, so a refused
    catalogue leaves nothing behind.
    """
    if scrape.served_store_id is None or scrape.served_store_id != scrape.requested_store_id:
        served = scrape.served_store_id or "nothing"
        raise Refused(
            "served_store_mismatch",
            f"requested store {scrape.requested_store_id}, retailer served {served}",
        )
    store = await repo.lock_store(scrape.company, scrape.requested_store_id)
    if store is None:
        raise Refused("unknown_store", f"{scrape.company} store {scrape.requested_store_id}")
    check_fresh(store, utc(scrape.scraped_at), scrape.kind)
    if not scrape.complete:
        raise Refused("truncated", "the scraper marked the catalogue incomplete")
    catalogue = decode_products(scrape.products)
    await repo.stage_catalogue(catalogue.record_chunks())
    check_complete(scrape, catalogue.count)
    return store, catalogue


def check_fresh(store: StoreRef, scraped_at: datetime, kind: str = "full") -> None:
    """Only a newer scrape applies, with one exception: a full scrape taken at the same
    moment as the spot check already applied (a check asking for the whole catalogue at
    once) observes more of that moment and is applied over it."""
    last = store.last_scraped_at
    if last is None or scraped_at > utc(last):
        return
    full_of_a_spot_moment = (
        kind == "full"
        and scraped_at == utc(last)
        and (store.last_full_scrape_at is None or utc(store.last_full_scrape_at) < scraped_at)
    )
    if not full_of_a_spot_moment:
        raise Refused(
            "stale_lease",
            f"scraped at {scraped_at.isoformat()}, store already has {utc(last).isoformat()}",
        )


def check_complete(scrape: StoreScraped, got: int) -> None:
    expected = scrape.expected_count
    if scrape.kind == "full" and expected and got < expected * MIN_COMPLETENESS:
        raise Refused("truncated", f"{got} products of the retailer's {expected}")


def rejection(scrape: StoreScraped, event_id: uuid.UUID, refused: Refused) -> ScrapeRejected:
    return ScrapeRejected(
        company=scrape.company,
        store_id=scrape.requested_store_id,
        lease_token=scrape.lease_token,
        source_event_id=event_id,
        reason=refused.reason,
        detail=refused.detail[:1000],
    )


def snapshot_values(
    scrape: StoreScraped, event_id: uuid.UUID, store: StoreRef, catalogue: Catalogue
) -> dict[str, Any]:
    return {
        "event_id": str(event_id),
        "store_pk": store.id,
        "company": store.company,
        "store_id": store.store_id,
        "kind": scrape.kind,
        "scraped_at": utc(scrape.scraped_at),
        "lease_token": scrape.lease_token,
        "expected_count": scrape.expected_count,
        "categories_scraped": scrape.categories_scraped,
        "product_count": catalogue.count,
        "encoding": "zstd+ndjson",
        "data": catalogue.blob,
        "received_at": clock.now(),
    }


async def apply_catalogue(
    repo: Repository, store: StoreRef, kind: ScrapeKind, at: datetime, catalogue: Catalogue
) -> ApplyCounts:
    """Products, current prices and history of one store from one catalogue, set-based."""
    await repo.stage_catalogue(catalogue.record_chunks())
    return await apply_staged(repo, store, kind, at, catalogue.count)


async def apply_staged(
    repo: Repository, store: StoreRef, kind: ScrapeKind, at: datetime, products: int
) -> ApplyCounts:
    """:func:`apply_catalogue` for the catalogue of ``products`` rows already staged."""
    full = kind == "full"
    new_products = 0
    prices = await repo.apply_prices(store.company, store, at, full, clock.now())
    if prices is None:  # unknown SKUs, and nothing written: add them, then apply
        new_products = await add_new_products(repo, store.company)
        prices = await repo.apply_prices(store.company, store, at, full, clock.now())
        if prices is None:
            raise RuntimeError("staged SKUs still unknown after adding the new products")
    await repo.mark_scraped(store.id, at, full)
    await repo.finish_staging()
    return ApplyCounts(products, new_products, prices.new, prices.changed, prices.delisted)


# --- product resolution -------------------------------------------------------------------


async def add_new_products(repo: Repository, company: str) -> int:
    """Insert the catalogue's unknown SKUs, linking each to a known item where one matches."""
    fresh = await repo.new_products(company)
    if not fresh:
        return 0
    links = await resolve_items(repo, company, fresh)
    inserted: int = await repo.insert_products(company, links, clock.now())
    return inserted


async def resolve_items(repo: Repository, company: str, fresh: list[NewProduct]) -> dict[str, int]:
    """SKU -> existing item: by barcode, else by normalised brand+name+size.

    An item never receives two SKUs of one company, so two products that merely normalise
    alike stay apart.
    """
    barcodes = [p.barcode for p in fresh if p.barcode]
    keys = [p.match_key for p in fresh if linkable(p.match_key)]
    by_barcode = group(await repo.candidates(company, "barcode", barcodes))
    by_key = group(await repo.candidates(company, "match_key", keys))
    every_item = [item for items in (*by_barcode.values(), *by_key.values()) for item in items]
    held = await repo.items_of(company, every_item)
    links: dict[str, int] = {}
    for product in fresh:
        item = pick(by_barcode.get(product.barcode or ""), held) or pick(
            by_key.get(product.match_key), held
        )
        if item is not None:
            links[product.sku] = item
            held.add(item)
    return links


def linkable(match_key: str) -> bool:
    """A key whose name part is empty would link unrelated products."""
    return bool(match_key.split("|")[1])


def group(candidates: Iterable[Candidate]) -> dict[str, list[int]]:
    items: dict[str, set[int]] = defaultdict(set)
    for candidate in candidates:
        items[candidate.key].add(candidate.item_id)
    return {key: sorted(ids) for key, ids in items.items()}


def pick(items: Sequence[int] | None, held: set[int]) -> int | None:
    """The oldest item not already holding a product of this company."""
    return next((item for item in items or () if item not in held), None)


# --- products.enriched --------------------------------------------------------------------


async def apply_enrichment(session: AsyncSession, enriched: ProductsEnriched) -> int:
    """Set barcodes; a barcode another chain already has links the two products."""
    repo = Repository(session)
    codes = {b.sku: b.barcode.strip() for b in enriched.barcodes if b.barcode.strip()}
    await repo.set_barcodes(enriched.company, codes, clock.now())
    known = await repo.products_by_sku(enriched.company, list(codes))
    by_barcode = group(await repo.candidates(enriched.company, "barcode", list(codes.values())))
    every_item = [item for items in by_barcode.values() for item in items]
    held = await repo.items_of(enriched.company, every_item)
    moves: dict[int, int] = {}
    for product in known:
        items = by_barcode.get(product["barcode"] or "", [])
        if product["item_id"] in items:
            continue
        item = pick(items, held)
        if item is not None:
            moves[int(product["id"])] = item
            held.add(item)
    await repo.move_items(moves)
    return len(known)


# --- replay -------------------------------------------------------------------------------


async def replay(db: Database, company: str | None = None, store_id: str | None = None) -> int:
    """Rebuild current prices and history from snapshots, one store per transaction."""
    async with db.read() as session:
        repo = Repository(session)
        store_pks = await repo.store_pks(company, store_id)
        index = await repo.snapshot_index(store_pks)
    per_store: dict[int, list[Any]] = defaultdict(list)
    for entry in index:
        per_store[int(entry["store_pk"])].append(entry)
    for store_pk in store_pks:
        async with db.transaction() as session:
            await replay_store(Repository(session), store_pk, per_store.get(store_pk, []))
    log.info("ingest.replayed", stores=len(store_pks), snapshots=len(index))
    return len(index)


async def replay_store(repo: Repository, store_pk: int, entries: list[Any]) -> None:
    await repo.forget_prices([store_pk])
    last_full: datetime | None = None
    for entry in entries:
        data = await repo.snapshot_data(int(entry["id"]))
        catalogue = decode_snapshot(data, entry["product_count"])
        store = StoreRef(store_pk, entry["company"], entry["store_id"], None, last_full)
        scraped_at = utc(entry["scraped_at"])
        await apply_catalogue(repo, store, entry["kind"], scraped_at, catalogue)
        if entry["kind"] == "full":
            last_full = scraped_at
