"""``splitcart archive build`` and the background builder."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager
from splitcart_archiver import models
from splitcart_archiver.app import create_app
from splitcart_archiver.cli import app as cli
from splitcart_archiver.settings import ArchiverSettings
from splitcart_shared import testing
from splitcart_shared.bus import handle_once
from splitcart_shared.clock import SimulatedClock
from splitcart_shared.db import Database
from splitcart_shared.events import Envelope
from sqlalchemy import select
from typer.testing import CliRunner

from .conftest import Seed, at, read_json
from .test_archiver_triggers import ingested


async def _seed(db: Database) -> None:
    seed = Seed(db)
    await seed.company()
    await seed.store("COL:858")
    await seed.store("100")
    await seed.product("1")
    await seed.price("COL:858", "1", at(0), at(1), 350)


def test_build_command_writes_the_archives_of_one_store(
    sqlite_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def prepare() -> None:
        db = Database(sqlite_database)
        await _seed(db)
        await db.dispose()

    asyncio.run(prepare())
    root = tmp_path / "out"
    monkeypatch.setenv("SPLITCART_DATABASE_URL", sqlite_database)
    monkeypatch.setenv("SPLITCART_ARCHIVE_ROOT", str(root))
    result = CliRunner().invoke(cli, ["build", "--company", "coles", "--store", "COL:858"])
    assert result.exit_code == 0, result.output
    assert "built 1 archives" in result.output
    assert read_json(root, "store_data/coles/COL_858.json")["metadata"]["product_count"] == 1
    assert not (root / "company_data").exists()


def test_build_command_refuses_a_store_without_its_company(
    sqlite_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPLITCART_DATABASE_URL", sqlite_database)
    monkeypatch.setenv("SPLITCART_ARCHIVE_ROOT", str(tmp_path / "out"))
    result = CliRunner().invoke(cli, ["build", "--store", "COL:858"])
    assert result.exit_code != 0
    assert "--company" in result.output


async def test_the_background_builder_rebuilds_a_marked_store(
    db: Database, settings: ArchiverSettings, sim_clock: SimulatedClock
) -> None:
    await _seed(db)
    settings = settings.model_copy(
        update={"archive_worker": True, "archive_debounce_seconds": 0, "archive_poll_seconds": 0.01}
    )
    app = create_app(settings)
    async with LifespanManager(app):
        runtime = app.state.runtime
        (subscription,) = runtime.subscriptions
        payload = ingested("COL:858")
        await handle_once(subscription, Envelope.wrap(payload, producer="ingest"), payload)

        async def built() -> bool:
            async with db.read() as session:
                rows = (await session.execute(select(models.manifest.c.path))).scalars().all()
            return "store_data/coles/COL_858.json" in rows

        await testing.wait_for(built, timeout=30)
    assert (settings.archive_root / "store_data/coles/COL_858.json").is_file()
