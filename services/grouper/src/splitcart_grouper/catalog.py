"""Read-only declarations of the ``catalog`` columns the grouper reads (owned by ingest).

Declared on a metadata of their own, so they never reach the grouper's migrations and do
not clash with ingest's own tables when both services run in one process. Names follow
``services/ingest/CATALOG.md``, the contract.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    DateTime,
    Integer,
    MetaData,
    Table,
    Text,
    and_,
    case,
)

SCHEMA = "catalog"
read_only = MetaData()
TIMESTAMP = DateTime(timezone=True)

catalog_companies = Table(
    "companies",
    read_only,
    Column("company", Text, primary_key=True),
    schema=SCHEMA,
)

stores = Table(
    "stores",
    read_only,
    Column("id", BigInteger, primary_key=True),
    Column("company", Text, nullable=False),
    Column("store_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("state", Text),
    Column("last_scraped_at", TIMESTAMP),
    Column("last_full_scrape_at", TIMESTAMP),
    schema=SCHEMA,
)

products = Table(
    "products",
    read_only,
    Column("id", BigInteger, primary_key=True),
    Column("company", Text, nullable=False),
    Column("sku", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("brand", Text),
    Column("size", Text),
    schema=SCHEMA,
)

current_prices = Table(
    "current_prices",
    read_only,
    Column("store_pk", BigInteger, primary_key=True),
    Column("product_id", BigInteger, primary_key=True),
    Column("company", Text, nullable=False),
    Column("price_cents", Integer),
    Column("was_price_cents", Integer),
    Column("unit_price_cents", Integer),
    Column("unit_measure", Text),
    Column("on_special", Boolean, nullable=False),
    Column("available", Boolean, nullable=False),
    Column("observed_at", TIMESTAMP, nullable=False),  # read through observed_at() below
    Column("valid_from", TIMESTAMP, nullable=False),  # since when the price has stood
    Column("delisted", Boolean, nullable=False),
    schema=SCHEMA,
)


price_history = Table(
    "price_history",
    read_only,
    Column("id", BigInteger, primary_key=True),
    Column("store_pk", BigInteger, nullable=False),
    Column("product_id", BigInteger, nullable=False),
    Column("price_cents", Integer),
    Column("was_price_cents", Integer),
    Column("unit_price_cents", Integer),
    Column("unit_measure", Text),
    Column("on_special", Boolean, nullable=False),
    Column("available", Boolean, nullable=False),
    Column("valid_from", TIMESTAMP, nullable=False),
    Column("last_seen", TIMESTAMP, nullable=False),
    schema=SCHEMA,
)


def observed_at() -> ColumnElement[datetime]:
    """When the product was last seen listed at the store: a full scrape stamps only its
    store, so a listed row was also observed by its store's latest full scrape (CATALOG.md).
    The query joins ``stores`` on ``current_prices.store_pk``."""
    last_full = stores.c.last_full_scrape_at
    own = current_prices.c.observed_at
    return case((and_(~current_prices.c.delisted, last_full > own), last_full), else_=own)
