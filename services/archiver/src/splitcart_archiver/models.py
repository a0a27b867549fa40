"""Tables of the ``archive`` schema, owned by the archiver service.

Both tables name an archive by ``(company, store_id)`` with the chain's own store id; the
company archive (``company_data/{company}.json``) uses ``store_id = ''`` (``COMPANY_ARCHIVE``)
because a primary key column cannot be NULL.
"""

from __future__ import annotations

from splitcart_shared.db import NAMING_CONVENTION
from splitcart_shared.outbox import messaging_tables
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)
from sqlmodel import SQLModel

SCHEMA = "archive"
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata = SQLModel.metadata

messaging = messaging_tables(metadata, SCHEMA)

COMPANY_ARCHIVE = ""
TIMESTAMP = DateTime(timezone=True)

# Archives waiting to be rebuilt. Consumers only upsert here; the builder deletes a row once
# the archive was written, unless it was marked again meanwhile (``last_marked_at`` moved).
dirty_archives = Table(
    "dirty_archives",
    metadata,
    Column("company", String(16), nullable=False),
    Column("store_id", Text, nullable=False),
    # The debounce waits for quiet since the last mark, but never longer than
    # ``archive_max_delay_seconds`` after the first one, so a busy store still rebuilds.
    Column("first_marked_at", TIMESTAMP, nullable=False),
    Column("last_marked_at", TIMESTAMP, nullable=False),
    Column("reason", String(64), nullable=False),  # the event type of the latest mark
    # Counts marks: the builder removes the row only if no mark arrived while it built.
    Column("marks", Integer, nullable=False, server_default="1"),
    PrimaryKeyConstraint("company", "store_id"),
    schema=SCHEMA,
)

# One row per archive file on disk: what ``GET /v1/archives`` lists and ETags come from.
manifest = Table(
    "manifest",
    metadata,
    Column("company", String(16), nullable=False),
    Column("store_id", Text, nullable=False),
    Column("path", Text, nullable=False, unique=True),  # relative to the archive root
    Column("sha256", String(64), nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("products", Integer, nullable=False),  # stores in a company archive
    Column("generated_at", TIMESTAMP, nullable=False),
    PrimaryKeyConstraint("company", "store_id"),
    schema=SCHEMA,
)
