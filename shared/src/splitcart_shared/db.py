"""Async database access for Postgres (asyncpg) and SQLite (aiosqlite).

On Postgres every owning service has its own schema (``scheduling``, ``catalog``, ``grouping``,
``archive``). SQLite has no schemas, so embedded mode attaches one database file per schema
under the same name (``ATTACH 'var/splitcart.catalog.db' AS catalog``): the very same table
definitions, schema-qualified names and cross-schema reads work unchanged on both backends.
Every SQLite transaction starts with ``BEGIN IMMEDIATE`` so concurrent writers queue on the
busy timeout instead of failing on a lock upgrade.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

READ_ONLY = "splitcart_read_only"
SCHEMAS: tuple[str, ...] = ("scheduling", "catalog", "grouping", "archive")

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def naming_metadata(schema: str | None = None) -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION, schema=schema)


def _sqlite_schema_file(main: str, schema: str) -> str:
    if main in ("", ":memory:"):
        return ":memory:"
    path = Path(main)
    return str(path.with_name(f"{path.stem}.{schema}{path.suffix or '.db'}"))


def _install_sqlite_hooks(engine: AsyncEngine, main_file: str) -> None:
    attach = [(schema, _sqlite_schema_file(main_file, schema)) for schema in SCHEMAS]

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA busy_timeout = 60000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        for schema, path in attach:
            cursor.execute(f"ATTACH DATABASE ? AS {schema}", (path,))
            cursor.execute(f"PRAGMA {schema}.journal_mode = WAL")
            cursor.execute(f"PRAGMA {schema}.synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Readers take no write lock; writers take it up front (no lock upgrades).
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


class Database:
    """One engine and session factory; created in a lifespan, disposed at shutdown."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            main_file = parsed.database or ""
            if main_file and main_file != ":memory:":
                Path(main_file).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_async_engine(url, echo=echo, poolclass=NullPool)
            _install_sqlite_hooks(self.engine, main_file)
        else:
            self.engine = create_async_engine(
                url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_postgres(self) -> bool:
        return not self.is_sqlite

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits on success, rolls back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reading only (on SQLite it does not take the write lock)."""
        async with self.sessions() as session:
            await session.connection(execution_options={READ_ONLY: True})
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def ensure_schemas(self) -> None:
        if self.is_postgres:
            async with self.engine.begin() as conn:
                for schema in SCHEMAS:
                    await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))

    async def dispose(self) -> None:
        await self.engine.dispose()
