"""Fixtures shared by every test suite: both database backends and the broker.

``backend`` runs a test on SQLite (embedded) and on Postgres. Under ``CI=true`` an unreachable
Postgres or RabbitMQ fails the run instead of skipping it.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from splitcart_shared import testing
from splitcart_shared.db import Database


def _unavailable(what: str) -> None:
    message = f"{what} is not reachable"
    if testing.in_ci():
        pytest.fail(f"{message}; CI must run the integration suites", pytrace=False)
    pytest.skip(message)


@pytest_asyncio.fixture(scope="session")
async def pg_url() -> AsyncIterator[str]:
    if not await testing.postgres_reachable():
        _unavailable("Postgres on 127.0.0.1:5432")
    name = testing.unique_name("splitcart_test_")
    url = await testing.create_pg_database(name)
    db = Database(url)
    await testing.migrate_everything(db)
    await db.dispose()
    yield url
    await testing.drop_pg_database(name)


@pytest_asyncio.fixture(scope="session")
async def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrated once per session; each test copies these files (much faster than Alembic)."""
    directory = tmp_path_factory.mktemp("sqlite-template")
    db = Database(testing.sqlite_url(directory))
    await testing.migrate_everything(db)
    await db.dispose()
    return directory


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest_asyncio.fixture
async def postgres_database(pg_url: str) -> str:
    db = Database(pg_url)
    await testing.truncate_everything(db)
    await db.dispose()
    return pg_url


@pytest.fixture
def sqlite_database(sqlite_template: Path, tmp_path: Path) -> str:
    target = tmp_path / "db"
    shutil.copytree(sqlite_template, target)
    return testing.sqlite_url(target)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> str:
    """A migrated, empty database on the test's backend."""
    return str(request.getfixturevalue(f"{backend}_database"))


@pytest_asyncio.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest_asyncio.fixture
async def blank(backend: str, tmp_path: Path) -> AsyncIterator[Database]:
    """An empty database of the test's backend, not migrated (for migration tests)."""
    if backend == "sqlite":
        database = Database(testing.sqlite_url(tmp_path))
        yield database
        await database.dispose()
        return
    if not await testing.postgres_reachable():
        _unavailable("Postgres")
    name = testing.unique_name("splitcart_test_migrations_")
    database = Database(await testing.create_pg_database(name))
    yield database
    await database.dispose()
    await testing.drop_pg_database(name)


@pytest_asyncio.fixture
async def amqp_url() -> str:
    if not await testing.rabbitmq_reachable():
        _unavailable("RabbitMQ on 127.0.0.1:5672")
    return testing.AMQP_URL
