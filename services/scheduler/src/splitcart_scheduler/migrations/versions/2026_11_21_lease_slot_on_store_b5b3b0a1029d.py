"""lease slot on store

A lease's store names the slot it occupies, so ending the lease frees the slot by its
primary key; ``lease_slots`` then needs no index on ``store_pk``, and with room left in its
pages (fillfactor) occupying and freeing a slot are HOT updates that change no index.
``ix_stores_lease_expires_at`` goes too: expired leases are found among the live ones through
``ix_stores_lease_token`` (as few as the caps allow), and every lease paid for an entry.

Revision ID: b5b3b0a1029d
Revises: d3c63074d78c
Create Date: 2026-11-21 23:35:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b5b3b0a1029d"
down_revision: str | None = "d3c63074d78c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "stores", sa.Column("lease_slot", sa.Integer(), nullable=True), schema="scheduling"
    )
    # Leases granted before this revision: the slot each occupies.
    op.execute(
        "UPDATE scheduling.stores SET lease_slot = ("
        "SELECT l.slot FROM scheduling.lease_slots l WHERE l.store_pk = stores.id) "
        "WHERE lease_token IS NOT NULL"
    )
    op.drop_index("ix_lease_slots_store_pk", table_name="lease_slots", schema="scheduling")
    op.drop_index("ix_stores_lease_expires_at", table_name="stores", schema="scheduling")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE scheduling.lease_slots SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE scheduling.lease_slots RESET (fillfactor)")
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
        "ix_lease_slots_store_pk", "lease_slots", ["store_pk"], unique=False, schema="scheduling"
    )
    op.drop_column("stores", "lease_slot", schema="scheduling")
