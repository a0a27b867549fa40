"""``splitcart bench archive``: build every archive of a large synthetic company.

A scratch Postgres database is seeded with COPY: ``stores`` stores in groups of
``GROUP_SIZE`` (one anchor each), ``products`` products, ``days`` days of history. Anchors
change each product's price about every ``CHANGE_EVERY_DAYS`` days; members have their own
full scrape on day 0 and inherit from their anchor from day 1 on, as the grouper leaves
them. The build runs in a child process so that its peak RSS is measured alone (the
seeding's memory is not counted, the interpreter's and the libraries' is). Prints one JSON
object: ``mb_per_second``, ``stores_per_second``, ``peak_rss_mb`` and the workload.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import resource
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
from splitcart_shared import testing
from splitcart_shared.db import Database
from splitcart_shared.logging import configure_logging
from splitcart_shared.outbox import Outbox

from splitcart_archiver.models import messaging
from splitcart_archiver.service import Archiver
from splitcart_archiver.settings import ArchiverSettings

COMPANY = "woolworths"
GROUP_SIZE = 20
CHANGE_EVERY_DAYS = 7
T0 = datetime(2026, 1, 1, tzinfo=UTC)
_CATEGORIES = [
    ("Pantry", "Fruit & Veg", "Dairy", "Meat", "Bakery", "Frozen", "Drinks", "Health")[i % 8]
    for i in range(64)
]

# --- seeding ---------------------------------------------------------------------------------


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _store_id(index: int) -> str:
    return f"W{index:04d}"


def _anchor_of(index: int) -> int:
    return index - index % GROUP_SIZE


async def _seed_catalog(conn: asyncpg.Connection, stores: int, products: int) -> None:
    await conn.copy_records_to_table(
        "companies",
        schema_name="catalog",
        columns=["company", "name", "first_seen", "last_swept_at"],
        records=[(COMPANY, "Woolworths", T0, T0)],
    )
    division = await conn.fetchval(
        "INSERT INTO catalog.divisions (company, name, first_seen) VALUES ($1, $2, $3) "
        "RETURNING id",
        COMPANY,
        "SUPERMARKETS",
        T0,
    )
    states = ("NSW", "VIC", "QLD", "WA", "SA", "TAS", "ACT", "NT")
    await conn.copy_records_to_table(
        "stores",
        schema_name="catalog",
        columns=[
            "id",
            "company",
            "store_id",
            "name",
            "division_id",
            "state",
            "postcode",
            "latitude",
            "longitude",
            "first_seen",
            "last_swept_at",
        ],
        records=[
            (
                i + 1,
                COMPANY,
                _store_id(i),
                f"Store {i}",
                division,
                states[i % 8],
                "2000",
                -33.8,
                151.2,
                T0,
                T0,
            )
            for i in range(stores)
        ],
    )
    await conn.copy_records_to_table(
        "products",
        schema_name="catalog",
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
        records=(_product(i) for i in range(products)),
    )


def _product(i: int) -> tuple[Any, ...]:
    top = _CATEGORIES[i % 64]
    path = json.dumps([top, f"{top} {i % 7}", f"{top} {i % 7}.{i % 5}"])
    return (
        i + 1,
        COMPANY,
        str(100000 + i),
        f"Product number {i} family pack",
        "Brand",
        "500g",
        str(9300000000000 + i),
        path,
        f"https://www.example.com.au/shop/productdetails/{i}",
        f"https://cdn.example.com.au/product/images/large/{i}.jpg",
        f"brand|product {i}|500g",
        i + 1,
        T0,
        T0,
    )


def _anchor_rows(
    pk: int, products: int, days: int, rng: np.random.Generator
) -> Iterator[tuple[Any, ...]]:
    changes = rng.poisson(days / CHANGE_EVERY_DAYS, products)
    prices = rng.integers(100, 3000, products)
    for product in range(products):
        starts = np.unique(np.concatenate(([0], rng.integers(1, days, changes[product]))))
        ends = np.append(starts[1:] - 1, days)
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            cents = int(prices[product]) + 10 * start
            special = start % 3 == 1
            yield (
                pk,
                product + 1,
                cents,
                cents + 100 if special else None,
                cents // 5,
                "100g",
                special,
                True,
                T0 + timedelta(days=start),
                T0 + timedelta(days=end),
            )


_MEMBERS_SCRAPE = """
INSERT INTO catalog.price_history (store_pk, product_id, price_cents, was_price_cents,
    unit_price_cents, unit_measure, on_special, available, valid_from, last_seen)
SELECT m.pk, h.product_id, h.price_cents, h.was_price_cents, h.unit_price_cents,
    h.unit_measure, h.on_special, h.available, h.valid_from, h.valid_from
FROM catalog.price_history h
JOIN unnest($1::bigint[], $2::bigint[]) AS m(pk, anchor_pk) ON h.store_pk = m.anchor_pk
WHERE h.valid_from = $3
"""


async def _seed_history(conn: asyncpg.Connection, stores: int, products: int, days: int) -> int:
    """Anchors' histories by COPY; each member's own full scrape on day 0 (equal to its
    anchor's prices then: that is why they were grouped) copied inside the server."""
    columns = [
        "store_pk",
        "product_id",
        "price_cents",
        "was_price_cents",
        "unit_price_cents",
        "unit_measure",
        "on_special",
        "available",
        "valid_from",
        "last_seen",
    ]
    rng = np.random.default_rng(7)
    anchors = [i for i in range(stores) if _anchor_of(i) == i]
    for index in anchors:
        await conn.copy_records_to_table(
            "price_history",
            schema_name="catalog",
            columns=columns,
            records=_anchor_rows(index + 1, products, days, rng),
        )
    members = [i for i in range(stores) if _anchor_of(i) != i]
    await conn.execute(
        _MEMBERS_SCRAPE, [i + 1 for i in members], [_anchor_of(i) + 1 for i in members], T0
    )
    total: int = await conn.fetchval("SELECT count(*) FROM catalog.price_history")
    return total


async def _seed_grouping(conn: asyncpg.Connection, stores: int) -> None:
    groups = [(_store_id(a), COMPANY, _store_id(a), T0, T0) for a in range(0, stores, GROUP_SIZE)]
    await conn.copy_records_to_table(
        "groups",
        schema_name="grouping",
        columns=["id", "company", "anchor_store_id", "created_at", "updated_at"],
        records=groups,
    )
    members, history = [], []
    for index in range(stores):
        anchor = _store_id(_anchor_of(index))
        role = "anchor" if anchor == _store_id(index) else "member"
        members.append((COMPANY, _store_id(index), anchor, role, T0 + timedelta(days=1)))
        history.append((COMPANY, _store_id(index), anchor, anchor, role, T0 + timedelta(days=1)))
    await conn.copy_records_to_table(
        "memberships",
        schema_name="grouping",
        columns=["company", "store_id", "group_id", "role", "joined_at"],
        records=members,
    )
    await conn.copy_records_to_table(
        "membership_history",
        schema_name="grouping",
        columns=["company", "store_id", "group_id", "anchor_store_id", "role", "valid_from"],
        records=history,
    )


async def seed(url: str, stores: int, products: int, days: int) -> int:
    conn = await asyncpg.connect(_dsn(url))
    try:
        await _seed_catalog(conn, stores, products)
        rows = await _seed_history(conn, stores, products, days)
        await _seed_grouping(conn, stores)
        await conn.execute("VACUUM ANALYZE")  # the steady state autovacuum keeps
    finally:
        await conn.close()
    return rows


# --- the measured build (child process) ------------------------------------------------------


async def _build(url: str, root: str) -> dict[str, float]:
    settings = ArchiverSettings(database_url=url, archive_root=Path(root), archive_worker=False)
    db = Database(url)
    try:
        archiver = Archiver(db, settings, Outbox(messaging, producer="archiver"))
        start = time.perf_counter()
        built = await archiver.build(COMPANY)
        seconds = time.perf_counter() - start
    finally:
        await db.dispose()
    stores = sum(1 for b in built if b.store_id)
    return {"seconds": seconds, "bytes": sum(b.bytes for b in built), "stores": stores}


def _build_child(url: str, root: str, results: Any) -> None:
    configure_logging("WARNING", json=False)
    results.put(asyncio.run(_build(url, root)))


def measure_build(url: str, root: str) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=_build_child, args=(url, root, results))
    child.start()
    outcome: dict[str, float] = results.get()
    child.join()
    # ru_maxrss of waited-for children: only the build ran as a child (kilobytes on Linux).
    outcome["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return outcome


async def _prepare(stores: int, products: int, days: int) -> tuple[str, str, int, float]:
    name = testing.unique_name("splitcart_bench_archive_")
    url = await testing.create_pg_database(name)
    db = Database(url)
    try:
        await testing.migrate_everything(db)
    finally:
        await db.dispose()
    start = time.perf_counter()
    rows = await seed(url, stores, products, days)
    return name, url, rows, time.perf_counter() - start


def run_bench(stores: int, products: int, days: int) -> dict[str, Any]:
    name, url, rows, seed_seconds = asyncio.run(_prepare(stores, products, days))
    root = tempfile.mkdtemp(prefix="splitcart-bench-archive-")
    try:
        outcome = measure_build(url, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
        asyncio.run(testing.drop_pg_database(name))
    seconds = outcome["seconds"]
    return {
        "stores": stores,
        "products": products,
        "days": days,
        "history_rows": rows,
        "seed_seconds": round(seed_seconds, 1),
        "build_seconds": round(seconds, 1),
        "archive_bytes": int(outcome["bytes"]),
        "mb_per_second": round(outcome["bytes"] / 1e6 / seconds, 1),
        "stores_per_second": round(outcome["stores"] / seconds, 2),
        "peak_rss_mb": round(outcome["peak_rss_mb"], 1),
    }


def bench(stores: int = 500, products: int = 24_000, days: int = 30) -> None:
    """Archive build throughput and memory on Postgres (prints JSON): STORES in groups of
    20, PRODUCTS per store, DAYS of price history."""
    configure_logging("WARNING", json=False)
    print(json.dumps(run_bench(stores, products, days)))
