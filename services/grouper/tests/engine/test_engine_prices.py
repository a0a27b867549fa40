"""The per-company price matrix and its incremental updates."""

from __future__ import annotations

import numpy as np
import pytest
from splitcart_grouper.engine import NO_PRICE, CompanyPrices

from .engine_support import tick


def test_upsert_replaces_a_full_scrape_and_merges_a_spot_check() -> None:
    prices = CompanyPrices()
    prices.upsert_store("s", [0, 1, 2], [100, 200, 300], [tick(5)] * 3)
    prices.upsert_store("s", [1], [250], [tick(1)], replace=False)
    idx, cents, seen = prices.observations("s")
    assert (idx.tolist(), cents.tolist()) == ([0, 1, 2], [100, 250, 300])
    assert seen.tolist() == [tick(5), tick(1), tick(5)]
    prices.upsert_store("s", [2], [310], [tick(0)])
    assert prices.observations("s")[0].tolist() == [2]
    assert prices.latest_seen("s") == tick(0)


def test_null_price_clears_the_product() -> None:
    prices = CompanyPrices()
    prices.upsert_store("s", [0, 1], [100, 200], [tick(2)] * 2)
    prices.upsert_store("s", [1], [-1], [tick(1)], replace=False)
    assert prices.observations("s")[0].tolist() == [0]
    assert prices.prices[prices.row("s"), 1] == NO_PRICE


def test_matrix_grows_with_new_stores_and_products() -> None:
    prices = CompanyPrices(n_products=2, capacity=1)
    for s in range(5):
        prices.upsert_store(f"s{s}", [s * 100], [100 + s], [tick(1)])
    assert len(prices) == 5 and prices.n_products >= 401
    assert prices.observations("s4")[1].tolist() == [104]


def test_removing_a_store_keeps_the_others_intact() -> None:
    prices = CompanyPrices()
    for s in range(3):
        prices.upsert_store(f"s{s}", [0, 1], [s, s + 10], [tick(1)] * 2)
    prices.remove_store("s0")
    assert sorted(prices) == ["s1", "s2"]
    assert prices.observations("s2")[1].tolist() == [2, 12]
    assert "s0" not in prices


def test_current_summary_counts_only_recent_observations() -> None:
    prices = CompanyPrices()
    prices.upsert_store("s", np.arange(4), [1, 2, 3, 4], [tick(80), tick(50), tick(3), tick(3)])
    count, first, last = prices.current_stats(tick(72))[prices.row("s")]
    assert (count, first, last) == (3, tick(50), tick(3))
    prices.upsert_store("s", [1], [5], [tick(1)], replace=False)  # kept in step incrementally
    assert prices.current_stats(tick(72))[prices.row("s")].tolist() == [3, tick(3), tick(1)]
    assert prices.current_stats(tick(4))[prices.row("s")].tolist() == [3, tick(3), tick(1)]
    assert prices.current_stats(tick(2))[prices.row("s")].tolist() == [1, tick(1), tick(1)]
    assert prices.effective(tick(2))[prices.row("s")].tolist() == [NO_PRICE, 5, NO_PRICE, NO_PRICE]


def test_bad_ingests_are_refused() -> None:
    prices = CompanyPrices()
    with pytest.raises(ValueError, match="twice"):
        prices.upsert_store("s", [1, 1], [1, 2], [tick(1)] * 2)
    with pytest.raises(ValueError, match="length"):
        prices.upsert_store("s", [1, 2], [1], [tick(1)])
