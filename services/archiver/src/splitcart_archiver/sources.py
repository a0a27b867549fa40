"""The other services' tables this service reads, read-only (SPEC section 3).

Only the columns the archives use are declared, on a private ``MetaData`` so they are never
part of this service's migrations. Their meaning is documented by the owners:
``services/ingest/CATALOG.md`` (``catalog``) and ``services/grouper/GROUPING.md``
(``grouping``).
"""

from __future__ import annotations

from splitcart_shared.db import naming_metadata
from sqlalchemy import JSON, BigInteger, Boolean, Column, DateTime, Float, Integer, Table, Text

metadata = naming_metadata()
TIMESTAMP = DateTime(timezone=True)

companies = Table(
    "companies",
    metadata,
    Column("company", Text, primary_key=True),
    Column("name", Text),
    Column("first_seen", TIMESTAMP),
    Column("last_swept_at", TIMESTAMP),
    schema="catalog",
)

divisions = Table(
    "divisions",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("company", Text),
    Column("name", Text),
    schema="catalog",
)

stores = Table(
    "stores",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("company", Text),
    Column("store_id", Text),
    Column("name", Text),
    Column("division_id", BigInteger),
    Column("address", Text),
    Column("suburb", Text),
    Column("state", Text),
    Column("postcode", Text),
    Column("latitude", Float),
    Column("longitude", Float),
    Column("scrapable", Boolean),
    Column("is_open", Boolean),
    Column("closed_at", TIMESTAMP),
    Column("first_seen", TIMESTAMP),
    Column("last_scraped_at", TIMESTAMP),
    Column("last_full_scrape_at", TIMESTAMP),
    schema="catalog",
)

products = Table(
    "products",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("company", Text),
    Column("sku", Text),
    Column("name", Text),
    Column("brand", Text),
    Column("size", Text),
    Column("barcode", Text),
    Column("category_path", JSON),
    Column("url", Text),
    Column("image_url", Text),
    schema="catalog",
)

price_history = Table(
    "price_history",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("store_pk", BigInteger),
    Column("product_id", BigInteger),
    Column("price_cents", Integer),
    Column("was_price_cents", Integer),
    Column("unit_price_cents", Integer),
    Column("unit_measure", Text),
    Column("on_special", Boolean),
    Column("available", Boolean),
    Column("valid_from", TIMESTAMP),
    # A listed row was also seen by every later full scrape of its store, which stamps only
    # stores.last_full_scrape_at: read last_seen through repository.history_last_seen().
    Column("last_seen", TIMESTAMP),
    Column("listed", Boolean),
    schema="catalog",
)

memberships = Table(
    "memberships",
    metadata,
    Column("company", Text, primary_key=True),
    Column("store_id", Text, primary_key=True),
    Column("group_id", Text),
    Column("role", Text),
    schema="grouping",
)

membership_history = Table(
    "membership_history",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("company", Text),
    Column("store_id", Text),
    Column("group_id", Text),
    Column("anchor_store_id", Text),
    Column("role", Text),
    Column("valid_from", TIMESTAMP),
    Column("valid_to", TIMESTAMP),
    schema="grouping",
)

groups = Table(
    "groups",
    metadata,
    Column("id", Text, primary_key=True),
    Column("company", Text),
    Column("anchor_store_id", Text),
    schema="grouping",
)
