"""stores and leases

Revision ID: 2272e38df972
Revises: 4f75b49850dc
Create Date: 2026-11-21 18:04:34.654952
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2272e38df972"
down_revision: str | None = "4f75b49850dc"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lease_slots",
        sa.Column("company", sa.String(length=16), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("store_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("retired", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.PrimaryKeyConstraint("company", "slot", name=op.f("pk_lease_slots")),
        schema="scheduling",
    )
    op.create_index(
        "ix_lease_slots_store_pk", "lease_slots", ["store_pk"], unique=False, schema="scheduling"
    )
    op.create_table(
        "stores",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("company", sa.String(length=16), nullable=False),
        sa.Column("store_id", sa.String(length=64), nullable=False),
        sa.Column("retailer_store_id", sa.String(length=64), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=True),
        sa.Column("scrapable", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("discovered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("role", sa.String(length=8), server_default="alone", nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=True),
        sa.Column("role_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_scraped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_spot_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_completed_kind", sa.String(length=8), nullable=True),
        sa.Column("last_confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consecutive_confirmations", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rescrape_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rescrape_reason", sa.String(length=32), nullable=True),
        sa.Column("lease_token", sa.String(length=36), nullable=True),
        sa.Column("lease_holder", sa.String(length=128), nullable=True),
        sa.Column("lease_granted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_kind", sa.String(length=8), nullable=True),
        sa.Column("lease_reason", sa.String(length=32), nullable=True),
        sa.Column("spot_rotation", sa.Integer(), server_default="0", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("retry_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_failure_ref", sa.String(length=64), nullable=True),
        sa.Column("priority", sa.SmallInteger(), nullable=True),
        sa.Column("ready_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stores")),
        sa.UniqueConstraint("company", "store_id", name=op.f("uq_stores_company_store_id")),
        schema="scheduling",
    )
    op.create_index(
        "ix_stores_handout",
        "stores",
        ["priority", "ready_at"],
        unique=False,
        schema="scheduling",
        postgresql_where=sa.text("priority IS NOT NULL"),
        sqlite_where=sa.text("priority IS NOT NULL"),
    )
    op.create_index(
        "ix_stores_lease_expires_at",
        "stores",
        ["lease_expires_at"],
        unique=False,
        schema="scheduling",
        postgresql_where=sa.text("lease_token IS NOT NULL"),
        sqlite_where=sa.text("lease_token IS NOT NULL"),
    )
    op.create_index(
        "ix_stores_lease_token",
        "stores",
        ["lease_token"],
        unique=True,
        schema="scheduling",
        postgresql_where=sa.text("lease_token IS NOT NULL"),
        sqlite_where=sa.text("lease_token IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_stores_lease_token",
        table_name="stores",
        schema="scheduling",
        postgresql_where=sa.text("lease_token IS NOT NULL"),
        sqlite_where=sa.text("lease_token IS NOT NULL"),
    )
    op.drop_index(
        "ix_stores_lease_expires_at",
        table_name="stores",
        schema="scheduling",
        postgresql_where=sa.text("lease_token IS NOT NULL"),
        sqlite_where=sa.text("lease_token IS NOT NULL"),
    )
    op.drop_index(
        "ix_stores_handout",
        table_name="stores",
        schema="scheduling",
        postgresql_where=sa.text("priority IS NOT NULL"),
        sqlite_where=sa.text("priority IS NOT NULL"),
    )
    op.drop_table("stores", schema="scheduling")
    op.drop_index("ix_lease_slots_store_pk", table_name="lease_slots", schema="scheduling")
    op.drop_table("lease_slots", schema="scheduling")
