"""Observation times: a full scrape stamps its store once instead of every unchanged row, and
readers see exactly the times a row-by-row record of every scrape would hold (both backends)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from splitcart_ingest import models
from splitcart_shared.clock import utc


@dataclass
class Expected:
    """What every row would say if each scrape wrote each observation it made."""

    prices: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def scrape(self, at: datetime, kind: str, listed: dict[str, int]) -> None:
        for sku, price in listed.items():
            current = self.prices.get(sku)
            if current is None or current["delisted"] or current["price_cents"] != price:
                self.prices[sku] = {"price_cents": price, "observed_at": at, "delisted": False}
                self.history.setdefault(sku, []).append(
                    {"price_cents": price, "valid_from": at, "last_seen": at}
                )
            else:
                current["observed_at"] = at
                self.history[sku][-1]["last_seen"] = at
        if kind == "full":
            for sku, current in self.prices.items():
                if sku not in listed:
                    current["delisted"] = True


def _scrapes(seed: int, count: int) -> list[tuple[str, dict[str, int]]]:
    rng = random.Random(seed)
    prices = {str(sku): 100 + sku for sku in range(6)}
    scrapes = []
    for _ in range(count):
        kind = rng.choice(["full", "full", "spot"])
        skus = [sku for sku in prices if rng.random() < (0.8 if kind == "full" else 0.4)]
        for sku in skus:
            if rng.random() < 0.25:
                prices[sku] = rng.choice([prices[sku] + 10, 100 + int(sku)])
        scrapes.append((kind, {sku: prices[sku] for sku in skus}))
    return scrapes


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_observation_times_equal_a_record_written_at_every_scrape(
    harness: Any, seed: int
) -> None:
    await harness.discover()
    expected = Expected()
    for kind, listed in _scrapes(seed, 14):
        if not listed:
            continue
        rows = [harness.make_product(sku, price) for sku, price in listed.items()]
        event = harness.scrape_event(rows, kind=kind, expected_count=None)
        await harness.deliver(event)
        expected.scrape(utc(event.scraped_at), kind, listed)
    prices = await harness.prices()
    assert {
        sku: {
            "price_cents": r["price_cents"],
            "observed_at": utc(r["observed_at"]),
            "delisted": r["delisted"],
        }
        for sku, r in prices.items()
    } == expected.prices
    assert all(utc(r["last_seen"]) == utc(r["observed_at"]) for r in prices.values())
    for sku, rows in expected.history.items():
        history = [
            {k: utc(r[k]) if k != "price_cents" else r[k] for k in rows[0]}
            for r in await harness.history(sku)
        ]
        assert history == rows, sku


async def test_an_unchanged_full_scrape_writes_only_its_store_stamp(harness: Any) -> None:
    p = harness.make_product
    await harness.discover()
    await harness.scrape([p("1", 350), p("2", 200)])
    before = await harness.state()
    await harness.scrape([p("1", 350), p("2", 200)])
    after = await harness.state()
    assert after["current_prices"] == before["current_prices"]
    assert after["price_history"] == before["price_history"]
    (store,) = after["stores"]
    assert utc(store["last_full_scrape_at"]) == utc(store["last_scraped_at"])
    assert {utc(r["observed_at"]) for r in (await harness.prices()).values()} == {
        utc(store["last_full_scrape_at"])
    }


async def test_a_delisting_writes_down_the_last_full_scrape_that_listed_it(harness: Any) -> None:
    p = harness.make_product
    await harness.discover()
    await harness.scrape([p("1"), p("2")])
    listed_last = harness.scrape_event([p("1"), p("2")])
    await harness.deliver(listed_last)
    await harness.scrape([p("1")])
    (row,) = await harness.rows(
        models.price_history,
        models.price_history.c.product_id == (await harness.product_row("coles", "2"))["id"],
    )
    assert utc(row["last_seen"]) == utc(listed_last.scraped_at) and not row["listed"]
    gone = (await harness.prices())["2"]
    assert gone["delisted"] and utc(gone["observed_at"]) == utc(listed_last.scraped_at)
