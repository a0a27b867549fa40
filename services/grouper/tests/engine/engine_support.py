"""Small hand-made companies for engine tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from splitcart_grouper.engine import CompanyPrices, FastComparator, GroupingParams, ticks

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
PARAMS = GroupingParams()


def tick(hours_ago: float = 1.0) -> int:
    return ticks(NOW - timedelta(hours=hours_ago))


def base_prices(n_products: int = 400, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.integers(10, 400, n_products) * 10 - 1).astype(np.int32)


def variant(base: np.ndarray, changed: int, offset: int = 0, bump: int = 20) -> np.ndarray:
    """``base`` with ``changed`` products (from ``offset`` on) repriced by ``bump`` cents."""
    out = base.copy()
    out[offset : offset + changed] += bump
    return out


def add(prices: CompanyPrices, store: str, row: np.ndarray, hours_ago: float = 1.0) -> None:
    prices.upsert_store(store, np.arange(row.size), row, np.full(row.size, tick(hours_ago)))


def company(rows: dict[str, np.ndarray], hours_ago: float = 1.0) -> CompanyPrices:
    prices = CompanyPrices()
    for store, row in rows.items():
        add(prices, store, row, hours_ago)
    return prices


def fast(prices: CompanyPrices, hours_later: float = 0.0) -> FastComparator:
    return FastComparator(prices, NOW + timedelta(hours=hours_later), PARAMS)
