"""Planted-structure price data shaped like the sandbox's chains, for tests and the bench.

Every generator returns a :class:`PlantedCompany`: the prices plus the zone each store
was planted in, so a grouping can be checked pair by pair against the truth.

* Aldi-like: one national zone and a small regional zone (~2,550 products).
* Coles/Woolworths-like: a zone per state plus a Metro zone; ~3 % remote stores each
  priced on their own; a quarter of stores price some fresh produce themselves (0.8 %
  of their range, so any two such stores still differ by < 2 % and the zone stays one
  match-group); zone prices include the zone's weekly specials. Zones differ from one
  another on ~15-30 % of products.
* IGA-like: independent stores (2k-10k products each) that use the recommended price on
  about a third of their range and their own price elsewhere.

All stores are observed within the last 36 hours (one full scrape each, products
paged 36 at a time), so every pair of stores is within the pairing window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from .prices import I32, NO_PRICE, CompanyPrices, ticks

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
STATES = {
    "NSW": 0.32,
    "VIC": 0.26,
    "QLD": 0.20,
    "WA": 0.10,
    "SA": 0.07,
    "TAS": 0.03,
    "ACT": 0.01,
    "NT": 0.01,
}
_DELTAS = np.array([-90, -50, -30, -20, -10, 10, 20, 30, 50, 100, 150], np.int32)
Rng = np.random.Generator


@dataclass
class PlantedCompany:
    company: str
    prices: CompanyPrices
    zone_of: dict[str, str]

    def planted(self) -> list[frozenset[str]]:
        """The planted zones as store sets, in the order :meth:`GroupingState.partition` uses."""
        zones: dict[str, set[str]] = {}
        for store, zone in self.zone_of.items():
            zones.setdefault(zone, set()).add(store)
        return sorted((frozenset(z) for z in zones.values()), key=sorted)


@dataclass
class PlantedDataset:
    now: datetime
    companies: dict[str, PlantedCompany] = field(default_factory=dict)


def aldi_like(
    n_stores: int = 600, n_products: int = 2550, *, seed: int = 0, now: datetime = NOW
) -> PlantedCompany:
    rng = np.random.default_rng(seed)
    base = _base_prices(rng, n_products)
    zones = np.vstack([base, _zone_prices(rng, base, changed=0.18)])
    zone_idx = (rng.random(n_stores) < 0.06).astype(np.intp)
    names = np.array(["national", "regional"])
    carry = rng.random((n_stores, n_products), dtype=np.float32) < 0.99
    return _assemble("aldi", "a", rng, zones[zone_idx], carry, names[zone_idx].tolist(), now)


def chain_like(
    company: str,
    n_stores: int,
    n_products: int,
    *,
    seed: int = 0,
    now: datetime = NOW,
    remote_share: float = 0.03,
    produce_share: float = 0.25,
) -> PlantedCompany:
    """Coles/Woolworths-like: state zones, a Metro zone, remote outliers, store produce."""
    rng = np.random.default_rng(seed)
    base = _base_prices(rng, n_products)
    labels = [*STATES, "METRO"]
    zones = np.vstack([_zone_prices(rng, base, changed=rng.uniform(0.07, 0.13)) for _ in labels])
    shares = np.array([*(0.88 * s for s in STATES.values()), 0.12])
    zone_idx = rng.choice(len(labels), size=n_stores, p=shares / shares.sum())
    price = zones[zone_idx]
    names = [labels[z] for z in zone_idx]
    remote = np.flatnonzero(rng.random(n_stores) < remote_share)
    for r in remote:  # each remote store is a zone of its own: its state's prices plus freight
        price[r] = _zone_prices(rng, price[r], changed=0.10)
        names[r] = f"remote-{r}"
    carry = rng.random((n_stores, n_products), dtype=np.float32) < rng.uniform(
        0.93, 1.0, (n_stores, 1)
    )
    produce = rng.random(n_products) < 0.04
    local = np.setdiff1d(np.flatnonzero(rng.random(n_stores) < produce_share), remote)
    for s in local:
        _price_own_produce(rng, price[s], carry[s] & produce, share=0.008 * carry[s].mean())
    return _assemble(company, company[0], rng, price, carry, names, now)


def iga_like(
    n_stores: int = 930, n_products: int = 12000, *, seed: int = 0, now: datetime = NOW
) -> PlantedCompany:
    """Independent stores: recommended price on ~1/3 of their range, their own elsewhere."""
    rng = np.random.default_rng(seed)
    rrp = _base_prices(rng, n_products)
    sizes = rng.integers(min(2000, n_products), min(10000, n_products) + 1, n_stores)
    carry = rng.random((n_stores, n_products), dtype=np.float32) < (sizes / n_products)[:, None]
    own = rng.random((n_stores, n_products), dtype=np.float32) >= 1 / 3
    delta = _DELTAS[rng.integers(0, _DELTAS.size, (n_stores, n_products))]
    price = np.where(own, np.maximum(rrp + delta, 9), rrp).astype(np.int32)
    return _assemble(
        "iga", "i", rng, price, carry, [f"independent-{s}" for s in range(n_stores)], now
    )


def national(scale: float = 1.0, *, seed: int = 0, now: datetime = NOW) -> PlantedDataset:
    """~3,500 stores at scale 1 with real-size catalogues (store counts scale, ranges don't)."""

    def n(count: int) -> int:
        return max(4, round(count * scale))

    data = PlantedDataset(now)
    data.companies["aldi"] = aldi_like(n(600), seed=seed, now=now)
    data.companies["coles"] = chain_like("coles", n(830), 24000, seed=seed + 1, now=now)
    data.companies["woolworths"] = chain_like("woolworths", n(1130), 23600, seed=seed + 2, now=now)
    data.companies["iga"] = iga_like(n(930), seed=seed + 3, now=now)
    return data


def _base_prices(rng: Rng, n_products: int) -> I32:
    return (rng.integers(5, 300, n_products) * 10 - 1).astype(np.int32)


def _zone_prices(rng: Rng, base: I32, changed: float) -> I32:
    """``base`` with a ``changed`` share of products repriced and ~3 % on special."""
    zone = base.copy()
    moved = rng.random(base.size) < changed
    zone[moved] = np.maximum(base[moved] + _DELTAS[rng.integers(0, _DELTAS.size, moved.sum())], 9)
    special = rng.random(base.size) < 0.03
    zone[special] = (base[special] * rng.uniform(0.5, 0.85, special.sum())).astype(
        np.int32
    ) // 10 * 10 + 5
    return zone


def _price_own_produce(rng: Rng, row: I32, candidates: npt.NDArray[np.bool_], share: float) -> None:
    """A store pricing some fresh produce itself, in place."""
    pool = np.flatnonzero(candidates)
    k = min(pool.size, int(share * row.size))
    chosen = rng.choice(pool, size=k, replace=False)
    row[chosen] = row[chosen] + rng.integers(1, 9, k).astype(np.int32) * 10 + 3


def _assemble(
    company: str,
    prefix: str,
    rng: Rng,
    price: I32,
    carry: npt.NDArray[np.bool_],
    zones: list[str],
    now: datetime,
) -> PlantedCompany:
    """Shuffle stores against their keys, stamp scrape times, build the price matrix."""
    n_stores, n_products = price.shape
    order = rng.permutation(n_stores)
    keys = [f"{prefix}{i:05d}" for i in range(n_stores)]
    started = ticks(now) - np.asarray(rng.integers(3600, 36 * 3600, n_stores), np.int64)
    paging = (np.arange(n_products) // 36 * 2).astype(np.int64)
    seen = (started[:, None] + paging[None, :]).astype(np.int32)
    matrix = np.where(carry, price, NO_PRICE).astype(np.int32)[order]
    prices = CompanyPrices.from_matrix(
        keys, matrix, np.where(carry[order], seen, 0).astype(np.int32)
    )
    return PlantedCompany(
        company, prices, {k: zones[o] for k, o in zip(keys, order.tolist(), strict=True)}
    )
