"""Schema revisions of ingest, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from splitcart_ingest.app import service
from splitcart_ingest.models import SCHEMA
from splitcart_shared.db import Database
from splitcart_shared.migrations import downgrade, upgrade
from sqlalchemy import DateTime, bindparam, text
from sqlalchemy.exc import IntegrityError

BEFORE_HISTORY_WITHOUT_FOREIGN_KEYS = "5d0c2a9e7b14"
BEFORE_SNAPSHOTS_STORED_AS_SENT = "376859b593c0"
AT = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

SEED = [
    "INSERT INTO catalog.companies (company, name, first_seen) VALUES ('coles', 'Coles', :at)",
    "INSERT INTO catalog.stores (id, company, store_id, name, first_seen, last_swept_at) "
    "VALUES (1, 'coles', '100', 'Store 100', :at, :at)",
    "INSERT INTO catalog.products (id, company, sku, name, category_path, match_key, item_id, "
    "first_seen, updated_at) VALUES (1, 'coles', 'A', 'A', '[]', '|a|', 1, :at, :at)",
    "INSERT INTO catalog.current_prices (store_pk, product_id, company, price_cents, "
    "on_special, available, observed_at, first_seen, last_seen, valid_from, delisted) "
    "VALUES (1, 1, 'coles', 100, false, true, :at, :at, :at, :at, false)",
]


async def _execute(db: Database, sql: str) -> None:
    stamp = bindparam("at", type_=DateTime(timezone=True))
    async with db.transaction() as session:
        statement = text(sql)
        if ":at" in sql:
            statement = statement.bindparams(stamp)
        await session.execute(statement, {"at": AT} if ":at" in sql else None)


async def _history(db: Database, product_id: int) -> None:
    await _execute(
        db,
        "INSERT INTO catalog.price_history (store_pk, product_id, price_cents, on_special, "
        f"available, valid_from, last_seen, listed) VALUES (1, {product_id}, 100, false, true, "
        ":at, :at, true)",
    )


async def test_history_without_foreign_keys_still_keeps_its_store_and_product(
    blank: Database,
) -> None:
    assert service.migrations is not None
    await upgrade(blank, service.migrations, SCHEMA, BEFORE_HISTORY_WITHOUT_FOREIGN_KEYS)
    for sql in SEED:
        await _execute(blank, sql)
    await _history(blank, 1)

    await upgrade(blank, service.migrations, SCHEMA)
    # The current price of the history row's (store, product) still refuses their deletion.
    for table in ("products", "stores"):
        with pytest.raises(IntegrityError):
            await _execute(blank, f"DELETE FROM catalog.{table} WHERE id = 1")
    async with blank.read() as session:
        rows = (
            await session.execute(text("SELECT store_pk, product_id FROM catalog.price_history"))
        ).all()
    assert [tuple(row) for row in rows] == [(1, 1)]

    await downgrade(blank, service.migrations, SCHEMA, BEFORE_HISTORY_WITHOUT_FOREIGN_KEYS)
    with pytest.raises(IntegrityError):
        await _history(blank, 2)  # no such product: the foreign key is back
    await upgrade(blank, service.migrations, SCHEMA)


async def _snapshot_storage(db: Database) -> str:
    query = text(
        "SELECT attstorage::text FROM pg_attribute "
        "WHERE attrelid = 'catalog.snapshots'::regclass AND attname = 'data'"
    )
    async with db.read() as session:
        return str((await session.execute(query)).scalar_one())


async def test_compressed_snapshots_are_not_compressed_again(blank: Database) -> None:
    assert service.migrations is not None
    await upgrade(blank, service.migrations, SCHEMA)
    postgres = blank.engine.dialect.name == "postgresql"  # SQLite has no storage setting
    if postgres:
        assert await _snapshot_storage(blank) == "e"  # external: stored as it is
    await downgrade(blank, service.migrations, SCHEMA, BEFORE_SNAPSHOTS_STORED_AS_SENT)
    if postgres:
        assert await _snapshot_storage(blank) == "x"  # extended: compressed when it can be
    await upgrade(blank, service.migrations, SCHEMA)
