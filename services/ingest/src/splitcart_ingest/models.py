"""Tables of the ``catalog`` schema, owned by the ingest service.

Grouper and archiver read these tables directly (read-only), so names and meanings are a
contract: see ``services/ingest/CATALOG.md``. Money is integer cents everywhere.

A full scrape writes only what it changes: an unchanged price seen again is recorded once
for the whole store (``stores.last_full_scrape_at``), not on each of its 24,000 rows, and
readers take a listed row's observation time as the later of its own stamp and that one
(:func:`observed_at`, :func:`history_last_seen`). Indexes stay off the columns scrapes
rewrite (observation times, prices), so those updates can be HOT updates.
"""

from __future__ import annotations

from typing import Any

from splitcart_shared.db import NAMING_CONVENTION
from splitcart_shared.outbox import messaging_tables
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    case,
    false,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import SQLModel

SCHEMA = "catalog"
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata = SQLModel.metadata

messaging = messaging_tables(metadata, SCHEMA)

# SQLite only auto-increments an INTEGER PRIMARY KEY, Postgres wants 64-bit ids.
BIGINT_PK = BigInteger().with_variant(Integer(), "sqlite")
JSON_DOC = JSON().with_variant(JSONB(), "postgresql")
TIMESTAMP = DateTime(timezone=True)


companies = Table(
    "companies",
    metadata,
    Column("company", String(16), primary_key=True),
    Column("name", Text, nullable=False),
    Column("first_seen", TIMESTAMP, nullable=False),
    Column("last_swept_at", TIMESTAMP),
    schema=SCHEMA,
)

divisions = Table(
    "divisions",
    metadata,
    Column("id", BIGINT_PK, primary_key=True, autoincrement=True),
    Column("company", String(16), ForeignKey(companies.c.company), nullable=False),
    Column("name", Text, nullable=False),
    Column("first_seen", TIMESTAMP, nullable=False),
    UniqueConstraint("company", "name"),
    schema=SCHEMA,
)

stores = Table(
    "stores",
    metadata,
    Column("id", BIGINT_PK, primary_key=True, autoincrement=True),
    Column("company", String(16), ForeignKey(companies.c.company), nullable=False),
    Column("store_id", Text, nullable=False),  # the chain's own id
    Column("name", Text, nullable=False),
    Column("division_id", BIGINT_PK, ForeignKey(divisions.c.id)),
    Column("address", Text),
    Column("suburb", Text),
    Column("state", Text),
    Column("postcode", Text),
    Column("latitude", Float),  # NULL when unknown (the retailer said 0 or nothing)
    Column("longitude", Float),
    Column("retailer_store_id", Text),
    Column("scrapable", Boolean, nullable=False, server_default=true()),
    Column("is_open", Boolean, nullable=False, server_default=true()),
    Column("closed_at", TIMESTAMP),
    Column("first_seen", TIMESTAMP, nullable=False),
    Column("last_swept_at", TIMESTAMP, nullable=False),
    Column("last_scraped_at", TIMESTAMP),  # scraped_at of the latest applied scrape
    # scraped_at of the latest applied full scrape: it observed every listed price of the store
    Column("last_full_scrape_at", TIMESTAMP),
    UniqueConstraint("company", "store_id"),
    schema=SCHEMA,
)
Index("ix_stores_state", stores.c.state)

products = Table(
    "products",
    metadata,
    Column("id", BIGINT_PK, primary_key=True, autoincrement=True),
    Column("company", String(16), ForeignKey(companies.c.company), nullable=False),
    Column("sku", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("brand", Text),
    Column("size", Text),
    Column("barcode", Text),
    Column("category_path", JSON_DOC, nullable=False),
    Column("url", Text),
    Column("image_url", Text),
    # normalised brand|name|size: the last resolution rule
    Column("match_key", Text, nullable=False),
    # the cross-chain product: every product sharing an item_id is the same good
    Column("item_id", BigInteger),
    Column("first_seen", TIMESTAMP, nullable=False),
    Column("updated_at", TIMESTAMP, nullable=False),
    UniqueConstraint("company", "sku"),
    schema=SCHEMA,
)
Index("ix_products_barcode", products.c.barcode)
Index("ix_products_match_key", products.c.match_key)
Index("ix_products_item_id", products.c.item_id)

current_prices = Table(
    "current_prices",
    metadata,
    Column("store_pk", BIGINT_PK, ForeignKey(stores.c.id), nullable=False),
    Column("product_id", BIGINT_PK, ForeignKey(products.c.id), nullable=False),
    Column("company", String(16), nullable=False),
    Column("price_cents", Integer),
    Column("was_price_cents", Integer),
    Column("unit_price_cents", Integer),
    Column("unit_measure", Text),
    Column("on_special", Boolean, nullable=False),
    Column("available", Boolean, nullable=False),
    # scraped_at of the latest scrape that wrote the row; see observed_at() for its reading
    Column("observed_at", TIMESTAMP, nullable=False),
    Column("first_seen", TIMESTAMP, nullable=False),
    Column("last_seen", TIMESTAMP, nullable=False),  # = observed_at
    Column("valid_from", TIMESTAMP, nullable=False),  # start of the open price_history row
    Column("delisted", Boolean, nullable=False, server_default=false()),
    Column("delisted_at", TIMESTAMP),
    PrimaryKeyConstraint("store_pk", "product_id"),
    schema=SCHEMA,
)
Index("ix_current_prices_product_id", current_prices.c.product_id)

# No foreign keys: checking them cost a sixth of applying a full scrape. A history row is
# written with the current price of its (store, product) and deleted before it, so that
# row's foreign keys cover it (see the migration that dropped them, 376859b593c0).
price_history = Table(
    "price_history",
    metadata,
    Column("id", BIGINT_PK, primary_key=True, autoincrement=True),
    Column("store_pk", BIGINT_PK, nullable=False),
    Column("product_id", BIGINT_PK, nullable=False),
    Column("price_cents", Integer),
    Column("was_price_cents", Integer),
    Column("unit_price_cents", Integer),
    Column("unit_measure", Text),
    Column("on_special", Boolean, nullable=False),
    Column("available", Boolean, nullable=False),
    Column("valid_from", TIMESTAMP, nullable=False),  # first observation of these values
    # latest observation of these values written to the row; see history_last_seen()
    Column("last_seen", TIMESTAMP, nullable=False),
    # these are the values the store lists now: the open row of a listed product
    Column("listed", Boolean, nullable=False, server_default=false()),
    UniqueConstraint("store_pk", "product_id", "valid_from"),
    schema=SCHEMA,
)

snapshots = Table(
    "snapshots",
    metadata,
    Column("id", BIGINT_PK, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("store_pk", BIGINT_PK, ForeignKey(stores.c.id), nullable=False),
    Column("company", String(16), nullable=False),
    Column("store_id", Text, nullable=False),
    Column("kind", String(8), nullable=False),
    Column("scraped_at", TIMESTAMP, nullable=False),
    Column("lease_token", Text),
    Column("expected_count", Integer),
    Column("categories_scraped", JSON_DOC, nullable=False),
    Column("product_count", Integer, nullable=False),
    Column("encoding", String(32), nullable=False),  # of ``data``: zstd-compressed NDJSON
    # stored as it is (Postgres storage EXTERNAL): compressing it again saves nothing
    Column("data", LargeBinary, nullable=False),
    Column("received_at", TIMESTAMP, nullable=False),
    schema=SCHEMA,
)
Index("ix_snapshots_store_pk_scraped_at", snapshots.c.store_pk, snapshots.c.scraped_at)
Index("ix_snapshots_scraped_at", snapshots.c.scraped_at)


# --- observation times as readers see them (the query joins ``stores`` on ``store_pk``) ---


def _or_full_scrape(stamp: ColumnElement[Any], listed: ColumnElement[bool]) -> ColumnElement[Any]:
    """A listed row was observed again by every later full scrape of its store."""
    last_full = stores.c.last_full_scrape_at
    return case((and_(listed, last_full > stamp), last_full), else_=stamp)


def observed_at() -> ColumnElement[Any]:
    """``current_prices.observed_at``: the latest scrape that listed the product there."""
    return _or_full_scrape(current_prices.c.observed_at, ~current_prices.c.delisted)


def price_last_seen() -> ColumnElement[Any]:
    """``current_prices.last_seen`` (equal to :func:`observed_at`)."""
    return _or_full_scrape(current_prices.c.last_seen, ~current_prices.c.delisted)


def history_last_seen() -> ColumnElement[Any]:
    """``price_history.last_seen``: the latest scrape that listed these values."""
    return _or_full_scrape(price_history.c.last_seen, price_history.c.listed)
