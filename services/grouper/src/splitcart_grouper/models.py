"""Tables of the ``grouping`` schema, owned by the grouper service.

The archiver reads ``groups``, ``memberships``, ``membership_history`` and ``evidence``
directly (read-only), so their names and meanings are a contract: see
``services/grouper/GROUPING.md``. A store is always named by ``(company, store_id)`` with
the chain's own store id, as in events and in ``catalog.stores``.
"""

from __future__ import annotations

from splitcart_shared.db import NAMING_CONVENTION
from splitcart_shared.outbox import messaging_tables
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    text,
)
from sqlmodel import SQLModel

SCHEMA = "grouping"
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata = SQLModel.metadata

messaging = messaging_tables(metadata, SCHEMA)

# SQLite only auto-increments an INTEGER PRIMARY KEY, Postgres wants 64-bit ids.
BIGINT_PK = BigInteger().with_variant(Integer(), "sqlite")
TIMESTAMP = DateTime(timezone=True)
GROUP_ID = String(64)

groups = Table(
    "groups",
    metadata,
    Column("id", GROUP_ID, primary_key=True),
    Column("company", String(16), nullable=False),
    Column("anchor_store_id", Text, nullable=False),  # the chain's id of the anchor
    Column("created_at", TIMESTAMP, nullable=False),
    Column("updated_at", TIMESTAMP, nullable=False),
    schema=SCHEMA,
)
Index("ix_groups_company_anchor_store_id", groups.c.company, groups.c.anchor_store_id)

memberships = Table(
    "memberships",
    metadata,
    Column("company", String(16), nullable=False),
    Column("store_id", Text, nullable=False),
    Column("group_id", GROUP_ID, ForeignKey(groups.c.id), nullable=False),
    Column("role", String(8), nullable=False),  # 'anchor' | 'member'
    Column("joined_at", TIMESTAMP, nullable=False),  # when it entered its current group
    Column("last_confirmed_at", TIMESTAMP),  # last health check that matched its anchor
    Column("consecutive_confirmations", Integer, nullable=False, server_default="0"),
    # A member whose lone mismatch awaits a tie-breaker: the member asked to be rescraped.
    Column("awaiting_tie_break_from", Text),
    PrimaryKeyConstraint("company", "store_id"),
    schema=SCHEMA,
)
Index("ix_memberships_group_id", memberships.c.group_id)

membership_history = Table(
    "membership_history",
    metadata,
    Column("id", BIGINT_PK, primary_key=True, autoincrement=True),
    Column("company", String(16), nullable=False),
    Column("store_id", Text, nullable=False),
    Column("group_id", GROUP_ID, nullable=False),  # not a foreign key: groups get deleted
    Column("anchor_store_id", Text, nullable=False),
    Column("role", String(8), nullable=False),
    Column("valid_from", TIMESTAMP, nullable=False),
    Column("valid_to", TIMESTAMP),  # NULL: the store's current row
    schema=SCHEMA,
)
Index(
    "ix_membership_history_company_store_id_valid_from",
    membership_history.c.company,
    membership_history.c.store_id,
    membership_history.c.valid_from,
)
Index(
    "ix_membership_history_open",
    membership_history.c.company,
    membership_history.c.store_id,
    unique=True,
    postgresql_where=text("valid_to IS NULL"),
    sqlite_where=text("valid_to IS NULL"),
)
Index(
    "ix_membership_history_company_anchor_store_id",
    membership_history.c.company,
    membership_history.c.anchor_store_id,
)

evidence = Table(
    "evidence",
    metadata,
    Column("id", BIGINT_PK, primary_key=True, autoincrement=True),
    Column("company", String(16), nullable=False),
    Column("store_a", Text, nullable=False),  # the reference side: anchor or home anchor
    Column("store_b", Text, nullable=False),
    Column("group_id", GROUP_ID),  # the group the decision was about (no FK: may be gone)
    Column("decided_at", TIMESTAMP, nullable=False),
    Column("compared", Integer, nullable=False),
    Column("mismatches", Integer, nullable=False),
    Column("exact", Boolean, nullable=False),  # false: mismatches is a fail-fast lower bound
    Column("true_overlap", Float),
    Column("range_overlap", Float),
    Column("decision", String(16), nullable=False),
    Column("matched", Boolean, nullable=False),
    schema=SCHEMA,
)
Index(
    "ix_evidence_company_store_a_decided_at",
    evidence.c.company,
    evidence.c.store_a,
    evidence.c.decided_at,
)
Index(
    "ix_evidence_company_store_b_decided_at",
    evidence.c.company,
    evidence.c.store_b,
    evidence.c.decided_at,
)

# --- the service's own working tables (not part of the archiver's contract) ------------

dirty_stores = Table(
    "dirty_stores",
    metadata,
    Column("company", String(16), nullable=False),
    Column("store_id", Text, nullable=False),
    Column("kind", String(10), nullable=False),  # 'full' | 'spot' | 'discovered'
    Column("mark", String(36), nullable=False),  # event id of the latest marking event
    Column("marked_at", TIMESTAMP, nullable=False),
    PrimaryKeyConstraint("company", "store_id"),
    schema=SCHEMA,
)

regroup_jobs = Table(
    "regroup_jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("company", String(16), nullable=False),
    Column("status", String(10), nullable=False),  # queued | running | done | failed
    Column("phase", String(16), nullable=False),  # queued | loading | comparing | saving | done
    Column("progress", Float, nullable=False, server_default="0"),
    Column("stores", Integer),
    Column("groups", Integer),
    Column("requested_by", Text),
    Column("error", Text),
    Column("created_at", TIMESTAMP, nullable=False),
    Column("started_at", TIMESTAMP),
    Column("finished_at", TIMESTAMP),
    schema=SCHEMA,
)
Index("ix_regroup_jobs_company_created_at", regroup_jobs.c.company, regroup_jobs.c.created_at)
