"""HTTP routes of the ingest service: stores, products, prices and the price export."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from splitcart_shared.errors import DomainError
from splitcart_shared.events import Company
from splitcart_shared.runtime import Runtime, runtime_of
from sqlalchemy.ext.asyncio import AsyncSession

from splitcart_ingest import queries
from splitcart_ingest.queries import ExportFilter, Near, ProductFilter, StoreFilter
from splitcart_ingest.schemas import (
    EXPORT_DESCRIPTION,
    ProductDetail,
    ProductPage,
    StoreOut,
    StorePage,
    StorePricePage,
)
from splitcart_ingest.settings import IngestSettings

router = APIRouter(prefix="/v1", tags=["catalog"])

Limit = Annotated[int, Query(ge=1, le=1000, description="page size")]
Offset = Annotated[int, Query(ge=0)]
NDJSON = "application/x-ndjson"


async def read_session(
    runtime: Annotated[Runtime, Depends(runtime_of)],
) -> AsyncIterator[AsyncSession]:
    async with runtime.db.read() as session:
        yield session


Session = Annotated[AsyncSession, Depends(read_session)]


def near_filter(lat: float | None, lng: float | None, radius_km: float) -> Near | None:
    if lat is None and lng is None:
        return None
    if lat is None or lng is None:
        raise DomainError("near search needs both lat and lng", lat=lat, lng=lng)
    return Near(lat, lng, radius_km)


@router.get("/stores", response_model=StorePage, summary="Stores, filtered")
async def list_stores(
    session: Session,
    company: Company | None = None,
    division: Annotated[str | None, Query(description="banner, e.g. 'Liquorland'")] = None,
    state: Annotated[str | None, Query(max_length=8)] = None,
    store_id: Annotated[str | None, Query(description="the chain's own store id")] = None,
    status: Literal["open", "closed", "all"] = "open",
    lat: Annotated[float | None, Query(ge=-90, le=90, description="near: latitude")] = None,
    lng: Annotated[float | None, Query(ge=-180, le=180, description="near: longitude")] = None,
    radius_km: Annotated[float, Query(gt=0, le=5000)] = 10.0,
    limit: Limit = 100,
    offset: Offset = 0,
) -> StorePage:
    """With `lat` and `lng`, only stores within `radius_km`, nearest first (`distance_km`)."""
    f = StoreFilter(company, division, state, status, store_id, near_filter(lat, lng, radius_km))
    return await queries.list_stores(session, f, limit, offset)


@router.get("/stores/by-chain/{company}/{store_id}", response_model=StoreOut)
async def get_store_by_chain(session: Session, company: Company, store_id: str) -> StoreOut:
    """A store by the chain's own id (the identity events use), e.g. `coles/COL:858`."""
    return await queries.get_store_by_chain(session, company, store_id)


@router.get("/stores/by-chain/{company}/{store_id}/prices", response_model=StorePricePage)
async def store_prices_by_chain(
    session: Session,
    company: Company,
    store_id: str,
    include_delisted: bool = False,
    limit: Limit = 500,
    offset: Offset = 0,
) -> StorePricePage:
    """Like `/v1/stores/{id}/prices`, naming the store by company and chain store id."""
    store = await queries.get_store_by_chain(session, company, store_id)
    return await queries.store_prices(session, store, include_delisted, limit, offset)


@router.get("/stores/{store}", response_model=StoreOut)
async def get_store(session: Session, store: int) -> StoreOut:
    """A store by its surrogate id (`id` in store listings)."""
    return await queries.get_store(session, store)


@router.get("/stores/{store}/prices", response_model=StorePricePage)
async def store_prices(
    session: Session,
    store: int,
    include_delisted: bool = False,
    limit: Limit = 500,
    offset: Offset = 0,
) -> StorePricePage:
    """The store's own (directly observed) current prices, in product id order."""
    found = await queries.get_store(session, store)
    return await queries.store_prices(session, found, include_delisted, limit, offset)


@router.get("/products", response_model=ProductPage)
async def list_products(
    session: Session,
    q: Annotated[str | None, Query(max_length=200, description="words in name or brand")] = None,
    company: Company | None = None,
    barcode: Annotated[str | None, Query(max_length=64)] = None,
    missing_barcode: Annotated[bool | None, Query(description="only products without")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> ProductPage:
    f = ProductFilter(q, company, barcode, missing_barcode)
    return await queries.list_products(session, f, limit, offset)


@router.get("/products/{product}", response_model=ProductDetail)
async def get_product(session: Session, product: int) -> ProductDetail:
    """A product with its current price at every store that lists it."""
    return await queries.get_product(session, product)


@router.get(
    "/prices/export",
    response_class=StreamingResponse,
    responses={200: {"content": {NDJSON: {}}, "description": "one JSON price per line"}},
    description=EXPORT_DESCRIPTION,
)
async def export_prices(
    runtime: Annotated[Runtime, Depends(runtime_of)],
    company: Company | None = None,
    store: Annotated[int | None, Query(description="surrogate store id")] = None,
    scraped_since: Annotated[datetime | None, Query(description="observed at or after")] = None,
    include_delisted: bool = False,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int | None, Query(ge=1, description="one page of at most this many")] = None,
) -> StreamingResponse:
    settings = runtime.settings
    assert isinstance(settings, IngestSettings)
    f = ExportFilter(company, store, scraped_since, include_delisted)
    after = queries.decode_cursor(cursor) if cursor else None
    if limit is None:
        stream = queries.export_stream(runtime.db, f, after, settings.ingest_export_chunk)
        return StreamingResponse(stream, media_type=NDJSON)
    if limit > settings.ingest_max_page:
        raise DomainError(f"limit is at most {settings.ingest_max_page}", limit=limit)
    rows = await queries.export_page(runtime.db, f, after, limit)
    headers = {}
    if len(rows) == limit:
        headers["X-Next-Cursor"] = queries.encode_cursor(
            rows[-1]["store_pk"], rows[-1]["product_id"]
        )
    body = (queries.export_line(row) for row in rows)
    return StreamingResponse(body, media_type=NDJSON, headers=headers)
