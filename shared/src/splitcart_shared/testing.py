"""Test support: databases on both backends, migrated with Alembic, and broker isolation.

Used by the root ``conftest.py``. Postgres tests get a database of their own per test session
(created, migrated once, tables truncated between tests); SQLite tests get fresh files.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import asyncpg
from sqlalchemy import text

from splitcart_shared.db import SCHEMAS, Database
from splitcart_shared.migrations import upgrade
from splitcart_shared.runtime import discover_services

PG_ADMIN_DSN = os.environ.get("SPLITCART_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
AMQP_URL = os.environ.get("SPLITCART_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")

T = TypeVar("T")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


async def postgres_reachable() -> bool:
    try:
        conn = await asyncio.wait_for(asyncpg.connect(PG_ADMIN_DSN), timeout=3)
    except Exception:
        return False
    await conn.close()
    return True


async def rabbitmq_reachable() -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", 5672), timeout=3)
    except Exception:
        return False
    writer.close()
    return True


async def create_pg_database(name: str) -> str:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


async def drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory / 'splitcart.db'}"


async def migrate_everything(db: Database) -> None:
    for definition in discover_services().values():
        if definition.migrations is not None and definition.schema is not None:
            await upgrade(db, definition.migrations, definition.schema)


async def truncate_everything(db: Database) -> None:
    """Empty every table of every owned schema (keeping Alembic's version tables)."""
    async with db.transaction() as session:
        for schema in SCHEMAS:
            if db.is_postgres:
                rows = await session.execute(
                    text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = :s "
                        "AND tablename <> 'alembic_version'"
                    ),
                    {"s": schema},
                )
                names = [f'"{schema}"."{r[0]}"' for r in rows]
                if names:
                    await session.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY"))
            else:
                rows = await session.execute(
                    text(
                        f"SELECT name FROM {schema}.sqlite_master WHERE type = 'table' "
                        "AND name NOT IN ('alembic_version') AND name NOT LIKE 'sqlite_%'"
                    )
                )
                for (name,) in rows:
                    await session.execute(text(f'DELETE FROM {schema}."{name}"'))


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


async def wait_for(
    probe: Callable[[], Awaitable[T]],
    *,
    timeout: float = 10.0,  # noqa: ASYNC109 - a deadline on polling, not on one await
    interval: float = 0.02,
) -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s (last value {value!r})")
        await asyncio.sleep(interval)


class TcpProxy:
    """A loopback TCP proxy a test can cut and restore, to simulate a network outage."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def cut(self) -> None:
        """Stop accepting and drop every open connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def restore(self) -> None:
        await self.start()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            self._writers.discard(writer)
            writer.transport.abort()
