"""Tables of the ``scheduling`` schema, owned by the scheduler service.

A lease lives in columns of its store's row (token, holder, expiry) and in the company slot it
occupies, never in an open transaction, so a scraper may hold a store for hours.
``priority`` and ``ready_at`` are the store's place in the hand-out order, recomputed by the
service whenever anything it depends on changes; the claim only has to walk one index.
"""

from __future__ import annotations

from enum import IntEnum

from splitcart_shared.db import NAMING_CONVENTION
from splitcart_shared.outbox import messaging_tables
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import SQLModel

SCHEMA = "scheduling"
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata = SQLModel.metadata

messaging = messaging_tables(metadata, SCHEMA)

_ID = BigInteger().with_variant(Integer(), "sqlite")


class Tier(IntEnum):
    """Values of ``stores.priority``: the hand-out tiers, most urgent first."""

    RESCRAPE = 1
    NEVER_SCRAPED = 2
    PROBE = 3  # a never-scraped store of a company that already has data: a spot check first
    ANCHOR_REFRESH = 4
    MEMBER_CHECK = 5  # handed out as a spot check


SPOT_TIERS: tuple[int, ...] = (int(Tier.PROBE), int(Tier.MEMBER_CHECK))


REASONS: dict[int, str] = {
    Tier.RESCRAPE: "rescrape_requested",
    Tier.NEVER_SCRAPED: "never_scraped",
    Tier.PROBE: "new_store_probe",
    Tier.ANCHOR_REFRESH: "anchor_refresh",
    Tier.MEMBER_CHECK: "member_check",
}


def _at(name: str, nullable: bool = True) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


stores = Table(
    "stores",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("company", String(16), nullable=False),
    Column("store_id", String(64), nullable=False),
    Column("retailer_store_id", String(64)),
    Column("name", String(200), nullable=False),
    Column("state", String(8)),
    Column("scrapable", Boolean, nullable=False, server_default=text("true")),
    # Some store of the company has a full scrape: new stores can be probed cheaply first.
    Column("company_ready", Boolean, nullable=False, server_default=text("false")),
    # The company's probe trial has its probes out and grouping has not decided them yet:
    # its new stores wait, neither probed nor fully scraped.
    Column("company_held", Boolean, nullable=False, server_default=text("false")),
    _at("discovered_at", nullable=False),
    _at("last_seen_at", nullable=False),
    _at("closed_at"),
    # Grouping, learned from the grouper's events.
    Column("role", String(8), nullable=False, server_default="alone"),
    Column("group_id", String(64)),
    _at("role_changed_at"),
    # What happened to the store's data.
    _at("last_scraped_at"),
    _at("last_spot_at"),
    _at("last_completed_at"),
    Column("last_completed_kind", String(8)),
    _at("last_confirmed_at"),
    Column("consecutive_confirmations", Integer, nullable=False, server_default="0"),
    _at("rescrape_requested_at"),
    Column("rescrape_reason", String(32)),
    # The lease.
    Column("lease_token", String(36)),
    Column("lease_holder", String(128)),
    _at("lease_granted_at"),
    _at("lease_expires_at"),
    _at("lease_heartbeat_at"),
    Column("lease_kind", String(8)),
    Column("lease_reason", String(32)),
    Column("spot_rotation", Integer, nullable=False, server_default="0"),
    # The company slot the lease occupies (``lease_slots.slot``), freed by key when it ends.
    Column("lease_slot", Integer),
    # Failures and their backoff.
    Column("attempts", Integer, nullable=False, server_default="0"),
    _at("retry_after"),
    Column("last_error", Text),
    Column("last_failure_ref", String(64)),
    # Place in the hand-out order (NULL priority: never handed out).
    Column("priority", SmallInteger),
    _at("ready_at"),
    UniqueConstraint("company", "store_id"),
    schema=SCHEMA,
)
Index(
    "ix_stores_handout",
    stores.c.priority,
    stores.c.ready_at,
    postgresql_where=text("priority IS NOT NULL"),
    sqlite_where=text("priority IS NOT NULL"),
)
Index(
    "ix_stores_lease_token",
    stores.c.lease_token,
    unique=True,
    postgresql_where=text("lease_token IS NOT NULL"),
    sqlite_where=text("lease_token IS NOT NULL"),
)

# A company's concurrency cap as rows: ``cap`` numbered slots, each free or held by one leased
# store. A claim takes a free slot with ``FOR UPDATE SKIP LOCKED`` in the same statement that
# leases the store, so concurrent claims never share a slot (no company past its cap) and
# never queue behind one hot counter row. No index covers ``store_pk`` and pages keep room
# (fillfactor): taking and freeing a slot (by key, from ``stores.lease_slot``) are HOT
# updates, which leave no dead index entries behind for the claims to wade through.
lease_slots = Table(
    "lease_slots",
    metadata,
    Column("company", String(16), primary_key=True),
    Column("slot", Integer, primary_key=True),
    Column("store_pk", _ID),
    # A slot above a lowered cap is retired: never taken again, deleted once free.
    Column("retired", Boolean, nullable=False, server_default=text("false")),
    schema=SCHEMA,
    postgresql_with={"fillfactor": 50},
)
