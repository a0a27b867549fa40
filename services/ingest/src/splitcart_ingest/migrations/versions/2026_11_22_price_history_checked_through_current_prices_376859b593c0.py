"""price history checked through current prices

``price_history`` drops its foreign keys to ``stores`` and ``products``: each checked every
history row a scrape writes with a locking lookup of its parent, about a sixth of the
statement that applies a full scrape with 5% changed prices. Integrity holds without them:
a history row is written only with the current price of the same (store, product), in the
same statement, and is deleted before it (replay), so every history row has a
``current_prices`` row, whose foreign keys still refuse deleting its store or product;
nothing deletes either anyway (a closed store is a flag).

Revision ID: 376859b593c0
Revises: 5d0c2a9e7b14
Create Date: 2026-11-22 02:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "376859b593c0"
down_revision: str | None = "5d0c2a9e7b14"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (constraint, column, referred table)
PARENTS = (
    ("fk_price_history_product_id_products", "product_id", "products"),
    ("fk_price_history_store_pk_stores", "store_pk", "stores"),
)


def upgrade() -> None:
    with op.batch_alter_table("price_history", schema="catalog") as batch:
        for name, _, _ in PARENTS:
            batch.drop_constraint(name, type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("price_history", schema="catalog") as batch:
        for name, column, parent in PARENTS:
            batch.create_foreign_key(name, parent, [column], ["id"], referent_schema="catalog")
