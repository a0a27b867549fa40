"""Reads behind the HTTP API: filters in, API models out, "not found" as a domain error."""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from splitcart_shared.clock import utc
from splitcart_shared.db import Database
from splitcart_shared.errors import DomainError, NotFound
from sqlalchemy import false, true
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from splitcart_ingest.models import current_prices, divisions, observed_at, products, stores
from splitcart_ingest.repository import Repository, text_search
from splitcart_ingest.schemas import (
    PriceAtStore,
    ProductDetail,
    ProductOut,
    ProductPage,
    StoreOut,
    StorePage,
    StorePrice,
    StorePricePage,
    dollars,
    price_fields,
)

EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class Near:
    lat: float
    lng: float
    radius_km: float


@dataclass(frozen=True)
class StoreFilter:
    company: str | None = None
    division: str | None = None
    state: str | None = None
    status: str = "open"  # open, closed or all
    store_id: str | None = None
    near: Near | None = None


@dataclass(frozen=True)
class ProductFilter:
    q: str | None = None
    company: str | None = None
    barcode: str | None = None
    missing_barcode: bool | None = None


@dataclass(frozen=True)
class ExportFilter:
    company: str | None = None
    store: int | None = None
    scraped_since: datetime | None = None
    include_delisted: bool = False


def _next(offset: int, limit: int, got: int) -> int | None:
    return offset + limit if got == limit else None


# --- stores -------------------------------------------------------------------------------


def store_out(row: RowMapping, distance_km: float | None = None) -> StoreOut:
    data = dict(row)
    data["status"] = "open" if row["is_open"] else "closed"
    data["distance_km"] = None if distance_km is None else round(distance_km, 3)
    return StoreOut.model_validate(data)


def store_conditions(f: StoreFilter) -> list[Any]:
    conditions: list[Any] = []
    if f.company:
        conditions.append(stores.c.company == f.company)
    if f.store_id:
        conditions.append(stores.c.store_id == f.store_id)
    if f.state:
        conditions.append(stores.c.state == f.state.upper())
    if f.status != "all":
        conditions.append(stores.c.is_open == (true() if f.status == "open" else false()))
    if f.near:
        conditions += bounding_box(f.near)
    return conditions


def bounding_box(near: Near) -> list[Any]:
    """A cheap SQL pre-filter; the exact great-circle distance is checked afterwards."""
    dlat = math.degrees(near.radius_km / EARTH_RADIUS_KM)
    dlng = dlat / max(math.cos(math.radians(near.lat)), 0.01)
    return [
        stores.c.latitude.between(near.lat - dlat, near.lat + dlat),
        stores.c.longitude.between(near.lng - dlng, near.lng + dlng),
    ]


def distance_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


async def list_stores(session: AsyncSession, f: StoreFilter, limit: int, offset: int) -> StorePage:
    repo = Repository(session)
    conditions = store_conditions(f)
    if f.division:
        conditions.append(divisions.c.name == f.division)
    if f.near is None:
        rows = await repo.list_stores(conditions, limit, offset)
        items = [store_out(row) for row in rows]
    else:
        items = nearest(await repo.list_stores(conditions, None, 0), f.near)[offset:]
        items = items[:limit]
    return StorePage(
        items=items, limit=limit, offset=offset, next_offset=_next(offset, limit, len(items))
    )


def nearest(rows: list[RowMapping], near: Near) -> list[StoreOut]:
    found = []
    for row in rows:
        km = distance_km(near.lat, near.lng, row["latitude"], row["longitude"])
        if km <= near.radius_km:
            found.append(store_out(row, km))
    return sorted(found, key=lambda s: (s.distance_km, s.id))


async def get_store(session: AsyncSession, store_pk: int) -> StoreOut:
    row = await Repository(session).get_store(stores.c.id == store_pk)
    if row is None:
        raise NotFound(f"no store {store_pk}", store=store_pk)
    return store_out(row)


async def get_store_by_chain(session: AsyncSession, company: str, store_id: str) -> StoreOut:
    repo = Repository(session)
    row = await repo.get_store(stores.c.company == company, stores.c.store_id == store_id)
    if row is None:
        raise NotFound(f"no {company} store {store_id}", company=company, store_id=store_id)
    return store_out(row)


async def store_prices(
    session: AsyncSession, store: StoreOut, include_delisted: bool, limit: int, offset: int
) -> StorePricePage:
    rows = await Repository(session).prices_of_store(store.id, include_delisted, limit, offset)
    items = [
        StorePrice(
            product_id=row["product_id"],
            sku=row["sku"],
            name=row["name"],
            brand=row["brand"],
            size=row["size"],
            barcode=row["barcode"],
            **price_fields(row),
        )
        for row in rows
    ]
    return StorePricePage(
        store=store,
        items=items,
        limit=limit,
        offset=offset,
        next_offset=_next(offset, limit, len(items)),
    )


# --- products -----------------------------------------------------------------------------


def product_conditions(f: ProductFilter) -> list[Any]:
    conditions: list[Any] = []
    if f.q and f.q.strip():
        conditions.append(text_search(f.q))
    if f.company:
        conditions.append(products.c.company == f.company)
    if f.barcode:
        conditions.append(products.c.barcode == f.barcode)
    if f.missing_barcode is True:
        conditions.append(products.c.barcode.is_(None))
    if f.missing_barcode is False:
        conditions.append(products.c.barcode.is_not(None))
    return conditions


async def list_products(
    session: AsyncSession, f: ProductFilter, limit: int, offset: int
) -> ProductPage:
    rows = await Repository(session).list_products(product_conditions(f), limit, offset)
    items = [ProductOut.model_validate(dict(row)) for row in rows]
    return ProductPage(
        items=items, limit=limit, offset=offset, next_offset=_next(offset, limit, len(items))
    )


async def get_product(session: AsyncSession, product_id: int) -> ProductDetail:
    repo = Repository(session)
    row = await repo.get_product(product_id)
    if row is None:
        raise NotFound(f"no product {product_id}", product=product_id)
    prices = [
        PriceAtStore(
            store=r["store_pk"],
            company=r["company"],
            store_id=r["store_id"],
            store_name=r["store_name"],
            state=r["state"],
            **price_fields(r),
        )
        for r in await repo.prices_of_product(product_id)
    ]
    return ProductDetail.model_validate({**dict(row), "prices": prices})


# --- export -------------------------------------------------------------------------------


def encode_cursor(store_pk: int, product_id: int) -> str:
    return base64.urlsafe_b64encode(f"{store_pk}.{product_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        store_pk, product_id = raw.split(".")
        return int(store_pk), int(product_id)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise DomainError("the cursor is not one this API issued", cursor=cursor) from exc


def export_conditions(f: ExportFilter) -> list[Any]:
    conditions: list[Any] = []
    if f.company:
        conditions.append(current_prices.c.company == f.company)
    if f.store is not None:
        conditions.append(current_prices.c.store_pk == f.store)
    if f.scraped_since is not None:
        conditions.append(observed_at() >= utc(f.scraped_since))
    if not f.include_delisted:
        conditions.append(current_prices.c.delisted == false())
    return conditions


def export_line(row: RowMapping) -> bytes:
    record = {
        "cursor": encode_cursor(row["store_pk"], row["product_id"]),
        "store": row["store_pk"],
        "company": row["company"],
        "store_id": row["store_id"],
        "product_id": row["product_id"],
        "sku": row["sku"],
        "price": dollars(row["price_cents"]),
        "was_price": dollars(row["was_price_cents"]),
        "unit_price": dollars(row["unit_price_cents"]),
        "unit_measure": row["unit_measure"],
        "on_special": bool(row["on_special"]),
        "available": bool(row["available"]),
        "observed_at": utc(row["observed_at"]),
        "valid_from": utc(row["valid_from"]),
        "delisted": bool(row["delisted"]),
    }
    return orjson.dumps(record) + b"\n"


async def export_page(
    db: Database, f: ExportFilter, after: tuple[int, int] | None, limit: int
) -> list[RowMapping]:
    async with db.read() as session:
        rows: list[RowMapping] = await Repository(session).export_page(
            export_conditions(f), after, limit
        )
    return rows


async def export_stream(
    db: Database, f: ExportFilter, after: tuple[int, int] | None, chunk: int
) -> AsyncIterator[bytes]:
    """Every matching row, one short read per chunk so no transaction spans the stream."""
    while True:
        rows = await export_page(db, f, after, chunk)
        if not rows:
            return
        yield b"".join(export_line(row) for row in rows)
        after = (rows[-1]["store_pk"], rows[-1]["product_id"])
