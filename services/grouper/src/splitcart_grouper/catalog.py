"""Read-only declarations of the ``catalog`` columns the grouper reads (owned by ingest).

Declared on a metadata of their own, so they never reach the grouper's migrations and do
not clash with ingest's own tables when both services run in one process. Names follow
``services/ingest/CATALOG.md``, the contract.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Integer, MetaData, Table, Text

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
    Column("observed_at", TIMESTAMP, nullable=False),
    Column("delisted", Boolean, nullable=False),
    schema=SCHEMA,
)
