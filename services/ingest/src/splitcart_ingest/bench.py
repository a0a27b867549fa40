"""``splitcart bench ingest``: one catalogue applied to a country-sized catalog, as JSON.

A throwaway Postgres database is seeded with ``stores`` stores each holding ``products``
current prices (and one history row each), then a catalogue with ``changed`` of its prices
changed is applied through the real consumer path (decode, validate, COPY, set-based SQL,
snapshot, outbox, commit). The same kind of catalogue is then applied by a naive per-row ORM
upsert, and the raw COPY of its rows into an unindexed table gives the floor.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from splitcart_shared.db import Database
from splitcart_shared.events import CompressedProducts, StoreScraped
from splitcart_shared.outbox import Outbox
from splitcart_shared.testing import create_pg_database, drop_pg_database, migrate_everything
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import registry

from splitcart_ingest import models
from splitcart_ingest.catalogue import ProductRow, category_json, row_key, stage_record
from splitcart_ingest.repository import STAGE_COLUMNS
from splitcart_ingest.service import ingest_scrape

COMPANY = "woolworths"
SEEDED_AT = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
ROUNDS = 5


def catalogue_row(index: int, revision: int = 0) -> ProductRow:
    """Product ``index`` of the catalogue; ``revision`` shifts its price (a changed price)."""
    price = 100 + (index * 37) % 2000 + revision * 10
    return {
        "sku": f"{index:07d}",
        "name": f"Everyday Product {index}",
        "brand": f"Brand {index % 400}",
        "size": f"{100 + index % 9 * 50}g",
        "barcode": f"93{index:011d}",
        "category_path": ["Pantry", f"Aisle {index % 40}"],
        "price_cents": price,
        "was_price_cents": None,
        "unit_price_cents": price // 5,
        "unit_measure": "100g",
        "on_special": False,
        "available": True,
        "url": f"https://shop.example/p/{index}",
        "image_url": f"https://img.example/{index}.jpg",
    }


def catalogue(products: int, changed: float, revision: int) -> list[ProductRow]:
    """Every product; a different ``changed`` share of them repriced in each revision."""
    step = max(1, round(1 / changed)) if changed > 0 else products + 1
    return [
        catalogue_row(i, revision if (i + revision) % step == 0 else 0) for i in range(products)
    ]


@dataclass
class Seed:
    store_pks: list[int]
    seconds: float


async def seed(db: Database, stores: int, products: int) -> Seed:
    started = time.perf_counter()
    async with db.transaction() as session:
        driver = await _driver(session)
        await _seed_catalog(session, driver, stores, products)
        await _seed_prices(session)
    async with db.engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("VACUUM ANALYZE catalog.current_prices"))
        await autocommit.execute(text("VACUUM ANALYZE catalog.price_history"))
        await autocommit.execute(text("ANALYZE catalog.products"))
    async with db.read() as session:
        pks = (await session.execute(select(models.stores.c.id).order_by("id"))).scalars()
        store_pks = [int(pk) for pk in pks]
    return Seed(store_pks, time.perf_counter() - started)


async def _driver(session: AsyncSession) -> Any:
    conn = await session.connection()
    return (await conn.get_raw_connection()).driver_connection


async def _seed_catalog(session: AsyncSession, driver: Any, stores: int, products: int) -> None:
    await session.execute(
        models.companies.insert().values(company=COMPANY, name="Woolworths", first_seen=SEEDED_AT)
    )
    await session.execute(
        models.divisions.insert().values(company=COMPANY, name="SUPERMARKETS", first_seen=SEEDED_AT)
    )
    store_rows = [
        (COMPANY, str(1000 + i), f"Store {i}", "NSW", SEEDED_AT, SEEDED_AT, None)
        for i in range(stores)
    ]
    columns = ["company", "store_id", "name", "state", "first_seen", "last_swept_at"]
    await driver.copy_records_to_table(
        "stores", schema_name="catalog", records=store_rows, columns=[*columns, "last_scraped_at"]
    )
    rows = catalogue(products, 0, 0)
    await driver.copy_records_to_table(
        "products",
        schema_name="catalog",
        records=[_product_record(i, row) for i, row in enumerate(rows, start=1)],
        columns=[
            "id",
            "company",
            "sku",
            "name",
            "brand",
            "size",
            "barcode",
            "category_path",
            "url",
            "image_url",
            "match_key",
            "item_id",
            "first_seen",
            "updated_at",
        ],
    )
    await session.execute(
        text("SELECT setval('catalog.products_id_seq', (SELECT max(id) FROM catalog.products))")
    )
    await session.execute(
        text(
            "CREATE TEMP TABLE bench_seed_prices (product_id bigint PRIMARY KEY, "
            "price_cents integer, unit_price_cents integer) ON COMMIT DROP"
        )
    )
    await driver.copy_records_to_table(
        "bench_seed_prices",
        records=[(i, r["price_cents"], r["unit_price_cents"]) for i, r in enumerate(rows, 1)],
        columns=["product_id", "price_cents", "unit_price_cents"],
    )


def _product_record(product_id: int, row: ProductRow) -> tuple[Any, ...]:
    return (
        product_id,
        COMPANY,
        row["sku"],
        row["name"],
        row.get("brand"),
        row.get("size"),
        row.get("barcode"),
        category_json(row),
        row.get("url"),
        row.get("image_url"),
        row_key(row),
        product_id,
        SEEDED_AT,
        SEEDED_AT,
    )


async def _seed_prices(session: AsyncSession) -> None:
    """stores x products current prices and their open history rows, server-side."""
    # A throwaway database: skip foreign-key triggers while bulk loading.
    await session.execute(text("SET LOCAL session_replication_role = replica"))
    params = {"t": SEEDED_AT, "c": COMPANY}
    await session.execute(
        text(
            "INSERT INTO catalog.current_prices (store_pk, product_id, company, price_cents, "
            "unit_price_cents, unit_measure, on_special, available, observed_at, first_seen, "
            "last_seen, valid_from, delisted) "
            "SELECT s.id, b.product_id, :c, b.price_cents, b.unit_price_cents, '100g', false, "
            "true, :t, :t, :t, :t, false FROM catalog.stores s CROSS JOIN bench_seed_prices b "
            "ORDER BY s.id, b.product_id"
        ),
        params,
    )
    await session.execute(
        text(
            "INSERT INTO catalog.price_history (store_pk, product_id, price_cents, "
            "unit_price_cents, unit_measure, on_special, available, valid_from, last_seen, "
            "listed) "
            "SELECT store_pk, product_id, price_cents, unit_price_cents, unit_measure, "
            "on_special, available, valid_from, last_seen, true FROM catalog.current_prices "
            "ORDER BY store_pk, product_id"
        )
    )
    await session.execute(
        text("UPDATE catalog.stores SET last_scraped_at = :t, last_full_scrape_at = :t"), params
    )


# --- measured paths -----------------------------------------------------------------------


def scrape_event(store_id: str, rows: list[ProductRow], scraped_at: datetime) -> StoreScraped:
    return StoreScraped(
        company=COMPANY,
        lease_token="bench",
        requested_store_id=store_id,
        served_store_id=store_id,
        scraped_at=scraped_at,
        kind="full",
        expected_count=len(rows),
        products=CompressedProducts.pack([dict(row) for row in rows]),
    )


async def bulk_round(db: Database, outbox: Outbox, scrape: StoreScraped) -> tuple[float, Any]:
    started = time.perf_counter()
    async with db.transaction() as session:
        result = await ingest_scrape(session, outbox, scrape, uuid.uuid4())
    return (time.perf_counter() - started) * 1000, result


class NaiveProduct:
    id: int
    sku: str
    name: str
    brand: str | None
    size: str | None
    barcode: str | None


class NaivePrice:
    store_pk: int
    product_id: int
    price_cents: int | None
    was_price_cents: int | None
    unit_price_cents: int | None
    unit_measure: str | None
    on_special: bool
    available: bool
    observed_at: datetime
    last_seen: datetime
    valid_from: datetime
    delisted: bool


class NaiveHistory:
    def __init__(self, **values: Any) -> None:
        for key, value in values.items():
            setattr(self, key, value)

    last_seen: datetime
    listed: bool


_naive_registry = registry()
_naive_registry.map_imperatively(NaiveProduct, models.products)
_naive_registry.map_imperatively(NaivePrice, models.current_prices)
_naive_registry.map_imperatively(NaiveHistory, models.price_history)
PRICE_FIELDS = ("price_cents", "was_price_cents", "unit_price_cents", "unit_measure")


async def naive_round(db: Database, store_pk: int, rows: list[ProductRow], at: datetime) -> float:
    """What the bulk path replaces: one ORM lookup and write per catalogue row, with the
    same result (an unchanged price is covered by the store's full-scrape stamp)."""
    stamps = models.stores.c
    started = time.perf_counter()
    async with db.transaction() as session:
        query = select(stamps.last_full_scrape_at).where(stamps.id == store_pk)
        previous: datetime = (await session.execute(query)).scalar_one()
        for row in rows:
            await _naive_row(session, store_pk, row, at, previous)
        await session.execute(
            models.stores.update()
            .where(stamps.id == store_pk)
            .values(last_scraped_at=at, last_full_scrape_at=at)
        )
    return (time.perf_counter() - started) * 1000


async def _naive_row(
    session: AsyncSession, store_pk: int, row: ProductRow, at: datetime, previous: datetime
) -> None:
    query = select(NaiveProduct).filter_by(company=COMPANY, sku=row["sku"])
    product = (await session.execute(query)).scalar_one()
    product.name, product.brand, product.size = row["name"], row.get("brand"), row.get("size")
    price = await session.get(NaivePrice, (store_pk, product.id))
    assert price is not None
    if all(getattr(price, f) == row.get(f) for f in PRICE_FIELDS):
        await session.flush()
        return
    open_row = (
        await session.execute(
            select(NaiveHistory).filter_by(
                store_pk=store_pk, product_id=product.id, valid_from=price.valid_from
            )
        )
    ).scalar_one()
    open_row.last_seen, open_row.listed = max(open_row.last_seen, previous), False
    for field in PRICE_FIELDS:
        setattr(price, field, row.get(field))
    price.observed_at = price.last_seen = price.valid_from = at
    session.add(_naive_history(store_pk, product.id, row, at))
    await session.flush()


def _naive_history(store_pk: int, product_id: int, row: ProductRow, at: datetime) -> NaiveHistory:
    return NaiveHistory(
        store_pk=store_pk,
        product_id=product_id,
        price_cents=row.get("price_cents"),
        was_price_cents=row.get("was_price_cents"),
        unit_price_cents=row.get("unit_price_cents"),
        unit_measure=row.get("unit_measure"),
        on_special=row.get("on_special", False),
        available=row.get("available", True),
        valid_from=at,
        last_seen=at,
        listed=True,
    )


async def copy_floor(db: Database, rows: list[ProductRow]) -> float:
    records = [stage_record(row) for row in rows]
    columns = ", ".join(f"{c} text" for c in STAGE_COLUMNS)
    async with db.transaction() as session:
        await session.execute(text(f"CREATE UNLOGGED TABLE public.bench_copy_floor ({columns})"))
    text_records = [tuple(None if v is None else str(v) for v in r) for r in records]
    started = time.perf_counter()
    async with db.transaction() as session:
        driver = await _driver(session)
        await driver.copy_records_to_table(
            "bench_copy_floor", schema_name="public", records=text_records
        )
    return (time.perf_counter() - started) * 1000


# --- the benchmark ------------------------------------------------------------------------


async def run(stores: int, products: int, changed: float, naive_sample: int) -> dict[str, Any]:
    name = f"splitcart_bench_ingest_{uuid.uuid4().hex[:8]}"
    url = await create_pg_database(name)
    db = Database(url)
    try:
        await migrate_everything(db)
        return await measure(db, stores, products, changed, naive_sample)
    finally:
        await db.dispose()
        await drop_pg_database(name)


async def measure(
    db: Database, stores: int, products: int, changed: float, naive_sample: int
) -> dict[str, Any]:
    seeded = await seed(db, stores, products)
    outbox = Outbox(models.messaging, producer="ingest")
    runs, last = [], None
    for revision in range(1, ROUNDS + 1):
        store_id = str(1000 + revision % stores)
        rows = catalogue(products, changed, revision)
        scrape = scrape_event(store_id, rows, SEEDED_AT + timedelta(hours=revision))
        elapsed, last = await bulk_round(db, outbox, scrape)
        runs.append(elapsed)
    naive_pk = seeded.store_pks[min(len(seeded.store_pks) - 1, ROUNDS + 1)]
    naive_rows = catalogue(products, changed, 1)
    sample = naive_rows[: naive_sample or None]
    sample_ms = await naive_round(db, naive_pk, sample, SEEDED_AT + timedelta(hours=1))
    # Each naive row costs the same few round trips, so the sample scales linearly.
    naive_ms = sample_ms * len(naive_rows) / len(sample)
    floor_ms = await copy_floor(db, naive_rows)
    bulk_ms = statistics.median(runs)
    return {
        "load_average_1m": round(os.getloadavg()[0], 2),
        "stores": stores,
        "products": products,
        "changed": changed,
        "current_prices_seeded": stores * products,
        "seed_seconds": round(seeded.seconds, 1),
        "ms_per_catalogue": round(bulk_ms, 1),
        "ms_runs": [round(ms, 1) for ms in runs],
        "rows_per_second": round(products / (bulk_ms / 1000)),
        "changed_prices_per_catalogue": getattr(last, "changed_prices", None),
        "naive_ms_per_catalogue": round(naive_ms, 1),
        "naive_rows_measured": len(sample),
        "speedup_vs_naive": round(naive_ms / bulk_ms, 1),
        "copy_floor_ms": round(floor_ms, 1),
    }


def bench(
    stores: int = 500, products: int = 24000, changed: float = 0.05, naive_sample: int = 4000
) -> None:
    """Apply a catalogue to a seeded catalog; print ms per catalogue vs naive ORM and COPY.

    The naive per-row path runs over the first ``naive_sample`` rows of the same catalogue
    (0: all of them; it takes minutes) and is scaled to the whole catalogue.
    """
    result = asyncio.run(run(stores, products, changed, naive_sample))
    print(orjson.dumps(result).decode())
