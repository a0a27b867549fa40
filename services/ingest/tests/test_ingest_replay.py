"""Replay: current prices and history rebuilt from the stored raw snapshots."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from splitcart_ingest import models
from splitcart_ingest.cli import app
from splitcart_ingest.service import replay
from typer.testing import CliRunner


def _without_ids(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(tuple(v for k, v in r.items() if k != "id") for r in rows)


async def _history_of_changes(harness: Any) -> None:
    p = harness.make_product
    await harness.discover("coles", [harness.make_store("100"), harness.make_store("101")])
    await harness.scrape([p("1", 100), p("2", 200), p("3", 300)])
    await harness.scrape([p("1", 100), p("2", 250)], kind="full")
    await harness.scrape([p("1", 90)], kind="spot", expected_count=None)
    await harness.scrape([p("1", 95), p("4", 400)], store_id="101")


async def test_replay_rebuilds_current_prices_and_history_exactly(harness: Any) -> None:
    await _history_of_changes(harness)
    current = await harness.rows(models.current_prices)
    history = _without_ids(await harness.rows(models.price_history))
    stores = await harness.rows(models.stores)
    assert await replay(harness.db) == 4
    assert await harness.rows(models.current_prices) == current
    assert _without_ids(await harness.rows(models.price_history)) == history
    assert await harness.rows(models.stores) == stores


async def test_replay_of_one_store_leaves_the_others_alone(harness: Any) -> None:
    await _history_of_changes(harness)
    before = await harness.state()
    assert await replay(harness.db, company="coles", store_id="101") == 1
    after = await harness.state()
    assert after["current_prices"] == before["current_prices"]
    assert _without_ids(after["price_history"]) == _without_ids(before["price_history"])


async def test_every_history_row_has_the_current_price_that_guards_its_store_and_product(
    harness: Any,
) -> None:
    # price_history has no foreign keys: the current price of its (store, product) has them.
    await _history_of_changes(harness)
    await replay(harness.db, company="coles", store_id="100")
    history = {(r["store_pk"], r["product_id"]) for r in await harness.rows(models.price_history)}
    current = {(r["store_pk"], r["product_id"]) for r in await harness.rows(models.current_prices)}
    assert history and history <= current


async def test_the_replay_command_reports_what_it_replayed(harness: Any, database_url: str) -> None:
    await _history_of_changes(harness)
    env = {"SPLITCART_DATABASE_URL": database_url, "SPLITCART_LOG_LEVEL": "WARNING"}
    logging_config = structlog.get_config()
    try:
        result = await asyncio.to_thread(
            CliRunner().invoke, app, ["replay", "--company", "coles"], env=env
        )
    finally:
        # The command points logging at the runner's streams, which close after it.
        structlog.configure(**logging_config)
    assert result.exit_code == 0, result.output
    assert "replayed 4 snapshots" in result.output
