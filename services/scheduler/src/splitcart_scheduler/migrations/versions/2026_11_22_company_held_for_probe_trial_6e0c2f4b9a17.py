"""company held while its probe trial is out

New stores of a company wait while the probes already out would complete its probe trial
and grouping has not decided them (``stores.company_held``). Every store starts not held;
the flag is set at the company's next scrape.

Revision ID: 6e0c2f4b9a17
Revises: b5b3b0a1029d
Create Date: 2026-11-22 05:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "6e0c2f4b9a17"
down_revision: str | None = "b5b3b0a1029d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "stores",
        sa.Column("company_held", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        schema="scheduling",
    )


def downgrade() -> None:
    op.drop_column("stores", "company_held", schema="scheduling")
