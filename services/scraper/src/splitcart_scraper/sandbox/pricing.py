"""Prices as pure functions of (seed, zone, product, day): nothing is stored per store.

A zone's regular price is the chain's drifting list price, moved up or down on a
zone-specific subset of products (``diff_rate``); that subset and the list price are
re-drawn at each product's revision day, so prices change daily across the catalogue.
Weekly specials are drawn per (zone, product, week), with weeks starting on Wednesday.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from splitcart_scraper.sandbox.catalogue import Catalogue
from splitcart_scraper.sandbox.hashing import (
    TAG_DEVIATE,
    TAG_DISCOUNT,
    TAG_DRIFT,
    TAG_FACTOR,
    TAG_FRESH_FACTOR,
    TAG_SPECIAL,
    uniform,
)

I64 = NDArray[np.int64]
Bools = NDArray[np.bool_]

FIRST_WEDNESDAY = 2  # day 0 is Monday 2025-09-01
_DISCOUNTS = np.array([0.10, 0.15, 0.20, 0.25, 0.30, 0.40, 0.50])


@dataclass(frozen=True)
class Zone:
    zone_id: str
    key: int
    diff_rate: float  # share of products priced away from the chain list price
    special_rate: float


@dataclass(frozen=True)
class PriceBlock:
    regular: I64  # shelf price without special
    price: I64  # what is charged now (special price when on special)
    on_special: Bools


def week_of(day: int) -> int:
    return (day - FIRST_WEDNESDAY) // 7


def shelf(cents: NDArray[np.float64] | I64) -> I64:
    """Shelf prices end in 9 cents."""
    rounded: I64 = (np.floor(np.asarray(cents, dtype=np.float64) / 10) * 10 + 9).astype(np.int64)
    return np.maximum(rounded, 9)


def list_price(seed: int, chain_key: int, cat: Catalogue, idx: I64, day: int) -> I64:
    epoch = (day + cat.phase[idx]) // cat.period[idx]
    drift = uniform(seed, TAG_DRIFT, chain_key, idx, epoch)
    return shelf(cat.base_cents[idx] * (0.94 + 0.12 * drift))


def zone_regular(seed: int, chain_key: int, zone: Zone, cat: Catalogue, idx: I64, day: int) -> I64:
    base = list_price(seed, chain_key, cat, idx, day)
    if zone.diff_rate <= 0:
        return base
    epoch = (day + cat.phase[idx]) // cat.period[idx]
    deviate = uniform(seed, TAG_DEVIATE, zone.key, idx, epoch) < zone.diff_rate
    return np.where(deviate, moved(base, uniform(seed, TAG_FACTOR, zone.key, idx, epoch)), base)


def moved(base: I64, u: NDArray[np.float64]) -> I64:
    """A different shelf price 4-16% above or below ``base`` (never equal to it)."""
    up = u < 0.5
    size = 0.04 + 0.24 * np.where(up, u, u - 0.5)
    target = shelf(base * np.where(up, 1 + size, 1 - size))
    delta = target - base
    delta = np.where(np.abs(delta) < 10, np.where(up, 10, -10), delta)
    return np.maximum(base + delta, np.where(base > 9, 9, base + 10))


def zone_prices(
    seed: int, chain_key: int, zone: Zone, cat: Catalogue, idx: I64, day: int
) -> PriceBlock:
    regular = zone_regular(seed, chain_key, zone, cat, idx, day)
    week = week_of(day)
    on_special = uniform(seed, TAG_SPECIAL, zone.key, week, idx) < zone.special_rate
    pick = (uniform(seed, TAG_DISCOUNT, zone.key, week, idx) * len(_DISCOUNTS)).astype(np.int64)
    cut = shelf(regular * (1 - _DISCOUNTS[pick]))
    cut = np.minimum(cut, regular - 10)
    on_special &= cut > 0
    price = np.where(on_special, cut, regular)
    return PriceBlock(regular=regular, price=price, on_special=on_special)


def fresh_local(seed: int, store_key: int, regular: I64, idx: I64, day: int) -> I64:
    """A store's own price for a fresh line, re-set weekly."""
    return moved(regular, uniform(seed, TAG_FRESH_FACTOR, store_key, week_of(day), idx))
