"""observations per full scrape

A full scrape no longer rewrites the observation times of the prices it found unchanged: it
stamps ``stores.last_full_scrape_at`` once, and readers take a listed row's observation time
as the later of its own stamp and that one. ``price_history.listed`` marks the rows that
stamp extends (the open row of a listed product).

Revision ID: 5d0c2a9e7b14
Revises: cc37520f5b52
Create Date: 2026-11-21 20:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5d0c2a9e7b14"
down_revision: str | None = "cc37520f5b52"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Stamps written so far are exact and no store has a full-scrape stamp yet; the open rows of
# listed products are the ones later full scrapes extend.
MARK_LISTED = """
    UPDATE catalog.price_history AS h SET listed = true
    FROM catalog.current_prices AS cp
    WHERE cp.store_pk = h.store_pk AND cp.product_id = h.product_id
        AND cp.valid_from = h.valid_from AND NOT cp.delisted
"""

# Downgrade: write every stamp a store's full scrapes extended back into the rows.
FOLD_CURRENT = """
    UPDATE catalog.current_prices AS cp
    SET observed_at = s.last_full_scrape_at, last_seen = s.last_full_scrape_at
    FROM catalog.stores AS s
    WHERE s.id = cp.store_pk AND NOT cp.delisted AND s.last_full_scrape_at > cp.observed_at
"""
FOLD_HISTORY = """
    UPDATE catalog.price_history AS h SET last_seen = s.last_full_scrape_at
    FROM catalog.stores AS s
    WHERE s.id = h.store_pk AND h.listed AND s.last_full_scrape_at > h.last_seen
"""


def upgrade() -> None:
    with op.batch_alter_table("stores", schema="catalog") as batch:
        batch.add_column(sa.Column("last_full_scrape_at", sa.DateTime(timezone=True)))
    with op.batch_alter_table("price_history", schema="catalog") as batch:
        batch.add_column(
            sa.Column("listed", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.execute(MARK_LISTED)
    if op.get_bind().dialect.name == "postgresql":
        # Scrapes now update only the rows they change: keep a little room for HOT updates
        # and pack the rest, which every full read of the tables scans (existing pages keep
        # their layout until the table is rewritten).
        op.execute("ALTER TABLE catalog.current_prices SET (fillfactor = 90)")
        op.execute("ALTER TABLE catalog.price_history SET (fillfactor = 90)")


def downgrade() -> None:
    op.execute(FOLD_CURRENT)
    op.execute(FOLD_HISTORY)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE catalog.current_prices SET (fillfactor = 50)")
        op.execute("ALTER TABLE catalog.price_history SET (fillfactor = 50)")
    with op.batch_alter_table("price_history", schema="catalog") as batch:
        batch.drop_column("listed")
    with op.batch_alter_table("stores", schema="catalog") as batch:
        batch.drop_column("last_full_scrape_at")
