"""API models. Money leaves as dollars with two decimals (``"3.50"``), formatted from cents."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from splitcart_shared.clock import utc
from splitcart_shared.events import Company

Timestamp = Annotated[datetime, AfterValidator(utc)]
Dollars = Annotated[
    str | None, Field(description="dollars with two decimals, e.g. '3.50'", examples=["3.50"])
]


def dollars(cents: int | None) -> str | None:
    """Exact: integer arithmetic on cents, never a float."""
    if cents is None:
        return None
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d}"


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class StoreOut(_Out):
    id: int = Field(description="surrogate id in the catalog (use it in /v1/stores/{id})")
    company: Company
    store_id: str = Field(description="the chain's own store id")
    name: str
    division: str | None
    address: str | None
    suburb: str | None
    state: str | None
    postcode: str | None
    latitude: float | None
    longitude: float | None
    retailer_store_id: str | None
    scrapable: bool
    status: Literal["open", "closed"]
    closed_at: Timestamp | None
    first_seen: Timestamp
    last_swept_at: Timestamp
    last_scraped_at: Timestamp | None
    distance_km: float | None = Field(default=None, description="only for a `near` search")


class StorePage(BaseModel):
    items: list[StoreOut]
    limit: int
    offset: int
    next_offset: int | None


class ProductOut(_Out):
    id: int
    company: Company
    sku: str
    name: str
    brand: str | None
    size: str | None
    barcode: str | None
    category_path: list[str]
    url: str | None
    image_url: str | None
    item_id: int | None = Field(description="products sharing it are the same good across chains")
    first_seen: Timestamp
    updated_at: Timestamp


class ProductPage(BaseModel):
    items: list[ProductOut]
    limit: int
    offset: int
    next_offset: int | None


class _PriceFields(BaseModel):
    price: Dollars
    was_price: Dollars
    unit_price: Dollars
    unit_measure: str | None
    on_special: bool
    available: bool
    observed_at: Timestamp
    first_seen: Timestamp
    valid_from: Timestamp = Field(description="since when these values are unchanged")
    delisted: bool
    delisted_at: Timestamp | None


class PriceAtStore(_PriceFields):
    store: int = Field(description="surrogate store id")
    company: Company
    store_id: str
    store_name: str
    state: str | None


class ProductDetail(ProductOut):
    prices: list[PriceAtStore]


class StorePrice(_PriceFields):
    product_id: int
    sku: str
    name: str
    brand: str | None
    size: str | None
    barcode: str | None


class StorePricePage(BaseModel):
    store: StoreOut
    items: list[StorePrice]
    limit: int
    offset: int
    next_offset: int | None


def price_fields(row: Any) -> dict[str, Any]:
    """The money of a ``current_prices`` row as dollars, plus its observation times."""
    return {
        "price": dollars(row["price_cents"]),
        "was_price": dollars(row["was_price_cents"]),
        "unit_price": dollars(row["unit_price_cents"]),
        "unit_measure": row["unit_measure"],
        "on_special": bool(row["on_special"]),
        "available": bool(row["available"]),
        "observed_at": row["observed_at"],
        "first_seen": row["first_seen"],
        "valid_from": row["valid_from"],
        "delisted": bool(row["delisted"]),
        "delisted_at": row["delisted_at"],
    }


EXPORT_DESCRIPTION = """NDJSON, one current price per line, in (store, product) order.

Each line carries its own `cursor`; pass the last one received as `cursor` to resume. With
`limit` the response is one page and `X-Next-Cursor` names the next one (absent at the end).
Pages follow a unique key that updates never move, so paging while prices change neither
repeats nor skips a row that existed when the export began (rows added behind the cursor
appear in the next export, e.g. with `scraped_since`)."""
