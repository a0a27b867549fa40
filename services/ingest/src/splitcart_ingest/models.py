"""Tables of the ``catalog`` schema, owned by the ingest service.

Grouper and archiver read these tables directly (read-only), so names and meanings are a
contract: see ``services/ingest/CATALOG.md``. Money is integer cents everywhere.

Indexes stay off the columns every scrape rewrites (``observed_at``, ``last_seen``, prices):
a Postgres UPDATE that touches no indexed column can be a HOT update, which keeps applying
24,000 observations per catalogue cheap.
"""

from __future__ import annotations

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
    false,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
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
    Column("observed_at", TIMESTAMP, nullable=False),  # scraped_at of the latest observation
    Column("first_seen", TIMESTAMP, nullable=False),
    Column("last_seen", TIMESTAMP, nullable=False),
    Column("valid_from", TIMESTAMP, nullable=False),  # start of the open price_history row
    Column("delisted", Boolean, nullable=False, server_default=false()),
    Column("delisted_at", TIMESTAMP),
    PrimaryKeyConstraint("store_pk", "product_id"),
    schema=SCHEMA,
)
Index("ix_current_prices_product_id", current_prices.c.product_id)

price_history = Table(
    "price_history",
    metadata,
    Column("id", BIGINT_PK, primary_key=True, autoincrement=True),
    Column("store_pk", BIGINT_PK, ForeignKey(stores.c.id), nullable=False),
    Column("product_id", BIGINT_PK, ForeignKey(products.c.id), nullable=False),
    Column("price_cents", Integer),
    Column("was_price_cents", Integer),
    Column("unit_price_cents", Integer),
    Column("unit_measure", Text),
    Column("on_special", Boolean, nullable=False),
    Column("available", Boolean, nullable=False),
    Column("valid_from", TIMESTAMP, nullable=False),  # first observation of these values
    Column("last_seen", TIMESTAMP, nullable=False),  # latest observation of these values
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
    Column("data", LargeBinary, nullable=False),
    Column("received_at", TIMESTAMP, nullable=False),
    schema=SCHEMA,
)
Index("ix_snapshots_store_pk_scraped_at", snapshots.c.store_pk, snapshots.c.scraped_at)
Index("ix_snapshots_scraped_at", snapshots.c.scraped_at)
