"""snapshot data stored as sent

``snapshots.data`` is zstd-compressed already: Postgres trying to compress it again on
every insert costs several milliseconds of each scrape and saves nothing, so the column is
stored out of line as it is (``EXTERNAL``). SQLite has no such setting.

Revision ID: 93277dae6659
Revises: 376859b593c0
Create Date: 2026-11-22 02:35:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "93277dae6659"
down_revision: str | None = "376859b593c0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _storage(mode: str) -> None:
    # Rows already stored keep their form; only new values are stored this way.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE catalog.snapshots ALTER COLUMN data SET STORAGE {mode}")


def upgrade() -> None:
    _storage("EXTERNAL")


def downgrade() -> None:
    _storage("EXTENDED")
