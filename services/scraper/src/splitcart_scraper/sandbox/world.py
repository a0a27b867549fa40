"""The simulated world: chains, stores, zones, the clock, and price/listing queries.

Stores and catalogues are generated once from the seed; prices, listings, specials and
availability are recomputed on demand from (seed, zone, product, day).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from splitcart_shared.clock import SimulatedClock

from splitcart_scraper.sandbox.catalogue import (
    LIQUOR_DEPARTMENT,
    VOCABULARY,
    Catalogue,
    ChainCatalogueSpec,
    build_catalogue,
)
from splitcart_scraper.sandbox.geo import STATES, Locality, build_localities, street_address
from splitcart_scraper.sandbox.hashing import (
    TAG_AVAILABLE,
    TAG_FRESH_PICK,
    TAG_RRP,
    key_of,
    uniform,
)
from splitcart_scraper.sandbox.pricing import PriceBlock, Zone, fresh_local, zone_prices

I64 = NDArray[np.int64]
START = datetime(2025, 9, 1, tzinfo=UTC)
CHAINS = ("woolworths", "coles", "aldi", "iga")
UNAVAILABLE_RATE = 0.015
FRESH_LOCAL_SHARE = 0.015  # of a fresh-pricing store's range
ALL_DEPTS = tuple(v[0] for v in VOCABULARY)

CATALOGUE_SPECS = {
    "woolworths": ChainCatalogueSpec(
        "woolworths",
        23_600,
        ("Woolworths", "Macro"),
        tuple(d for d in ALL_DEPTS if d != LIQUOR_DEPARTMENT),
        market_share=0.02,
    ),
    "coles": ChainCatalogueSpec(
        "coles",
        22_000,
        ("Coles", "Coles Finest"),
        ALL_DEPTS,
        renames={"Fruit & Veg": "Fruit & Vegetables", LIQUOR_DEPARTMENT: "Liquorland"},
    ),
    "aldi": ChainCatalogueSpec(
        "aldi",
        2_550,
        ("Farmdale", "Remano", "Just Organic", "Brooklea", "Specially Selected"),
        tuple(d for d in ALL_DEPTS if d != LIQUOR_DEPARTMENT),
        barcodes=False,
    ),
    "iga": ChainCatalogueSpec(
        "iga",
        10_000,
        ("Black & Gold", "Community Co"),
        tuple(d for d in ALL_DEPTS if d != LIQUOR_DEPARTMENT),
        renames={"Fruit & Veg": "Fruit and Vegetable"},
    ),
}

_W = {
    "NSW": 0.31,
    "VIC": 0.26,
    "QLD": 0.21,
    "WA": 0.10,
    "SA": 0.07,
    "TAS": 0.02,
    "ACT": 0.02,
    "NT": 0.01,
}
_ALDI_W = {"NSW": 0.34, "VIC": 0.28, "QLD": 0.22, "WA": 0.07, "SA": 0.06, "ACT": 0.03}
_METRO_W = {"NSW": 0.5, "VIC": 0.35, "QLD": 0.15}


@dataclass
class Store:
    chain: str
    index: int
    store_id: str  # the id the chain's locator shows
    number: int  # numeric part (Woolworths StoreNo, Coles number, Aldi G-number, IGA storeId)
    retailer_store_id: str  # IGA online-shop id ("" = none); else ""
    division: str
    name: str
    locality: Locality
    address: str
    lat: float
    lng: float
    phone: str
    key: int
    zone: int
    range_frac: float = 1.0
    dept_only: int = -1  # node index: the store ranges only this department (Liquorland)
    fresh_local: bool = False
    rrp_share: float = 0.0
    rogue_day: int | None = None
    rogue_zone: int | None = None
    open_day: int = 0
    close_day: int = 1 << 30
    coords_unknown: bool = False

    @property
    def state(self) -> str:
        return self.locality.state

    def is_open(self, day: int) -> bool:
        return self.open_day <= day < self.close_day

    def zone_on(self, day: int) -> int:
        if self.rogue_day is not None and self.rogue_zone is not None and day >= self.rogue_day:
            return self.rogue_zone
        return self.zone


@dataclass
class Chain:
    name: str
    key: int
    catalogue: Catalogue
    stores: list[Store] = field(default_factory=list)
    zones: list[Zone] = field(default_factory=list)
    by_id: dict[str, Store] = field(default_factory=dict)
    rrp_zone: Zone | None = None
    default_store: Store | None = None

    def zone_index(self, zone_id: str) -> int:
        return next(i for i, z in enumerate(self.zones) if z.zone_id == zone_id)


@dataclass(frozen=True)
class PagePrices:
    """A page's prices as Python lists: row building indexes them many times."""

    regular: list[int]
    price: list[int]
    on_special: list[bool]
    available: list[bool]


@dataclass(frozen=True)
class StorePrices:
    regular: I64
    price: I64
    on_special: NDArray[np.bool_]
    available: NDArray[np.bool_]

    def page(self) -> PagePrices:
        return PagePrices(
            self.regular.tolist(),
            self.price.tolist(),
            self.on_special.tolist(),
            self.available.tolist(),
        )


class World:
    """A deterministic simulated Australia; see README.md for what is modelled."""

    def __init__(self, seed: int, store_scale: float = 1.0, product_scale: float = 1.0) -> None:
        self.seed = seed
        self.store_scale = store_scale
        self.product_scale = product_scale
        self.start = START
        self.clock = SimulatedClock(START)
        self.localities = build_localities(seed)
        self.chains: dict[str, Chain] = {}
        for name in CHAINS:
            cat = build_catalogue(CATALOGUE_SPECS[name], seed, product_scale)
            self.chains[name] = Chain(name, key_of(name), cat)
        _StoreBuilder(self).build()
        self._listed = lru_cache(maxsize=2048)(self._listed_uncached)
        # A zone-day's prices for a whole catalogue are shared by every store of the zone.
        self._zone_block = lru_cache(maxsize=128)(self._zone_block_uncached)
        self._fresh_thresholds: dict[tuple[str, int], float] = {}

    # --- time -------------------------------------------------------------------------
    def today(self) -> int:
        return int((self.clock.now() - self.start).total_seconds() // 86400)

    # --- lookups ----------------------------------------------------------------------
    def store(self, chain: str, store_id: str) -> Store | None:
        return self.chains[chain].by_id.get(store_id)

    def open_stores(self, chain: str, day: int) -> list[Store]:
        return [s for s in self.chains[chain].stores if s.is_open(day)]

    def zone_id(self, store: Store, day: int) -> str:
        return self.chains[store.chain].zones[store.zone_on(day)].zone_id

    # --- listings ---------------------------------------------------------------------
    def listed(self, store: Store, node: int, day: int) -> I64:
        """Products of a category node a store lists on a day, in listing order."""
        result: I64 = self._listed(store.chain, node, day, store.range_frac, store.dept_only)
        return result

    def _listed_uncached(self, chain: str, node: int, day: int, frac: float, dept: int) -> I64:
        cat = self.chains[chain].catalogue
        idx = cat.nodes[node].products
        mask = self.listed_mask(cat, idx, day, frac, dept)
        out: I64 = idx[mask]
        return out

    @staticmethod
    def listed_mask(
        cat: Catalogue, idx: I64, day: int, frac: float, dept: int
    ) -> NDArray[np.bool_]:
        mask = (cat.list_day[idx] <= day) & (day < cat.delist_day[idx])
        mask &= cat.popularity[idx] < frac
        if dept >= 0:
            mask &= cat.dept[idx] == dept
        return mask

    def range_of(self, store: Store) -> I64:
        """Every product the store ranges (listed or not on a given day), marketplace excluded."""
        cat = self.chains[store.chain].catalogue
        mask = (cat.popularity < store.range_frac) & ~cat.is_market
        if store.dept_only >= 0:
            mask &= cat.dept == store.dept_only
        return np.flatnonzero(mask).astype(np.int64)

    # --- prices -----------------------------------------------------------------------
    def _zone_block_uncached(self, chain_name: str, zone: int, day: int) -> PriceBlock:
        chain = self.chains[chain_name]
        spec = chain.rrp_zone if zone < 0 else chain.zones[zone]
        assert spec is not None
        everything = np.arange(chain.catalogue.size, dtype=np.int64)
        return zone_prices(self.seed, chain.key, spec, chain.catalogue, everything, day)

    def zone_block(self, chain: str, zone: int, day: int, idx: I64) -> PriceBlock:
        """Zone prices of products ``idx`` (zone -1 = IGA's recommended prices)."""
        full: PriceBlock = self._zone_block(chain, zone, day)
        return PriceBlock(full.regular[idx], full.price[idx], full.on_special[idx])

    def prices(self, store: Store, idx: I64, day: int) -> StorePrices:
        chain = self.chains[store.chain]
        cat = chain.catalogue
        block = self.zone_block(store.chain, store.zone_on(day), day, idx)
        if chain.rrp_zone is not None:
            block = self._mix_rrp(store, chain, idx, day, block)
        regular, price, special = block.regular, block.price, block.on_special
        if store.fresh_local:
            regular, price, special = self._fresh(store, cat, idx, day, block)
        available = uniform(self.seed, TAG_AVAILABLE, store.key, day, idx) >= UNAVAILABLE_RATE
        return StorePrices(regular, price, special, available)

    def _mix_rrp(
        self, store: Store, chain: Chain, idx: I64, day: int, own: PriceBlock
    ) -> PriceBlock:
        rrp = self.zone_block(store.chain, -1, day, idx)
        follow = uniform(self.seed, TAG_RRP, store.key, idx) < store.rrp_share
        return PriceBlock(
            regular=np.where(follow, rrp.regular, own.regular),
            price=np.where(follow, rrp.price, own.price),
            on_special=np.where(follow, rrp.on_special, own.on_special),
        )

    def _fresh_threshold(self, store: Store) -> float:
        """The store prices exactly FRESH_LOCAL_SHARE of its range itself: the fresh lines
        whose pick draw falls below this threshold."""
        cached = self._fresh_thresholds.get((store.chain, store.index))
        if cached is None:
            cat = self.chains[store.chain].catalogue
            fresh = self.range_of(store)
            fresh = fresh[cat.is_fresh[fresh]]
            count = int(FRESH_LOCAL_SHARE * len(self.range_of(store)))
            draws = np.sort(uniform(self.seed, TAG_FRESH_PICK, store.key, fresh))
            cached = float(draws[count - 1]) if 0 < count <= len(draws) else -1.0
            self._fresh_thresholds[(store.chain, store.index)] = cached
        return cached

    def _fresh(
        self, store: Store, cat: Catalogue, idx: I64, day: int, block: PriceBlock
    ) -> tuple[I64, I64, NDArray[np.bool_]]:
        threshold = self._fresh_threshold(store)
        own = cat.is_fresh[idx] & (uniform(self.seed, TAG_FRESH_PICK, store.key, idx) <= threshold)
        local = fresh_local(self.seed, store.key, block.regular, idx, day)
        return (
            np.where(own, local, block.regular),
            np.where(own, local, block.price),
            block.on_special & ~own,
        )

    # --- ground truth -----------------------------------------------------------------
    def truth(self, store: Store, day: int) -> dict[str, np.ndarray]:
        cat = self.chains[store.chain].catalogue
        idx = self.range_of(store)
        p = self.prices(store, idx, day)
        listed = self.listed_mask(cat, idx, day, store.range_frac, store.dept_only)
        listed &= store.is_open(day)
        return {
            "index": idx,
            "sku": cat.sku[idx],
            "price_cents": p.price,
            "was_price_cents": np.where(p.on_special, p.regular, -1),
            "on_special": p.on_special,
            "available": p.available,
            "listed": listed,
        }

    def summary(self) -> dict[str, object]:
        return {
            "seed": self.seed,
            "store_scale": self.store_scale,
            "product_scale": self.product_scale,
            "start": self.start.isoformat(),
            "chains": {
                name: {
                    "stores": len(c.stores),
                    "products": c.catalogue.size,
                    "zones": [z.zone_id for z in c.zones],
                    "default_store": c.default_store.store_id if c.default_store else None,
                }
                for name, c in self.chains.items()
            },
        }


class _StoreBuilder:
    """Places stores, assigns ids, zones and the seeded events (rogues, openings, closures)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.rng = np.random.default_rng([world.seed, 303])
        self.by_state: dict[str, list[Locality]] = {}
        for loc in world.localities:
            self.by_state.setdefault(loc.state, []).append(loc)

    def build(self) -> None:
        self._woolworths()
        self._coles()
        self._aldi()
        self._iga()

    # --- helpers ----------------------------------------------------------------------
    def _counts(self, total: float, weights: dict[str, float], minimum: int) -> dict[str, int]:
        scale = self.world.store_scale
        return {s: max(minimum, round(total * scale * w)) for s, w in weights.items()}

    def _place(self, state: str, remote: bool) -> tuple[Locality, float, float]:
        pool = [loc for loc in self.by_state[state] if loc.remote == remote]
        loc = pool[int(self.rng.integers(len(pool)))]
        lat = loc.lat + float(self.rng.normal(0, 0.01))
        lng = loc.lng + float(self.rng.normal(0, 0.01))
        return loc, round(lat, 6), round(lng, 6)

    def _phone(self, state: str) -> str:
        area = next(s.phone_area for s in STATES if s.code == state)
        return f"({area}) {int(self.rng.integers(5000, 9999))} {int(self.rng.integers(1000, 9999))}"

    def _numbers(self, low: int, high: int, count: int) -> list[int]:
        return [int(x) for x in self.rng.choice(np.arange(low, high), count, replace=False)]

    def _add(self, chain: Chain, store: Store) -> None:
        store.index = len(chain.stores)
        chain.stores.append(store)
        chain.by_id[store.store_id] = store

    def _zone(self, chain: Chain, zone_id: str, diff: float, special: float) -> int:
        chain.zones.append(Zone(zone_id, key_of(f"{self.world.seed}:{zone_id}"), diff, special))
        return len(chain.zones) - 1

    def _state_zones(self, chain: Chain, states: Iterable[str]) -> dict[str, int]:
        return {s: self._zone(chain, f"{chain.name}:{s}", 0.09, 0.07) for s in states}

    def _plan(self, states: dict[str, int]) -> list[tuple[str, bool]]:
        """(state, remote) per store: ~3% remote, at least one."""
        plan = [(s, False) for s, n in states.items() for _ in range(n)]
        remote = max(1, round(0.03 * len(plan)))
        for i in self.rng.choice(len(plan), remote, replace=False):
            plan[int(i)] = (plan[int(i)][0], True)
        return plan

    # --- chains -----------------------------------------------------------------------
    def _woolworths(self) -> None:
        chain = self.world.chains["woolworths"]
        zones = self._state_zones(chain, _W)
        metro = self._zone(chain, "woolworths:metro", 0.12, 0.07)
        plan = self._plan(self._counts(1130, _W, 2))
        metro_plan = [
            (s, False) for s, n in self._counts(100, _METRO_W, 1).items() for _ in range(n)
        ]
        numbers = self._numbers(1001, 9999, len(plan) + len(metro_plan) + 1)
        numbers = [n for n in numbers if n != 1101]
        for i, (state, remote) in enumerate(plan):
            number = 1101 if i == 0 else numbers[i]
            zone = (
                self._zone(chain, f"woolworths:remote:{number}", 0.2, 0.07)
                if remote
                else zones[state]
            )
            self._add(chain, self._wool_store(chain, number, "SUPERMARKETS", state, remote, zone))
        for j, (state, _) in enumerate(metro_plan):
            number = numbers[len(plan) + j]
            store = self._wool_store(chain, number, "METRO", state, False, metro)
            store.range_frac = 0.45
            self._add(chain, store)
        chain.default_store = chain.stores[0]
        self._events(chain, [*list(zones.values()), metro])

    def _wool_store(
        self, chain: Chain, number: int, division: str, state: str, remote: bool, zone: int
    ) -> Store:
        loc, lat, lng = self._place(state, remote)
        name = loc.suburb + (" (Metro)" if division == "METRO" else "")
        return Store(
            "woolworths",
            0,
            str(number),
            number,
            "",
            division,
            name,
            loc,
            street_address(self.rng),
            lat,
            lng,
            self._phone(state),
            key_of(f"{self.world.seed}:woolworths:{number}"),
            zone,
        )

    def _coles(self) -> None:
        chain = self.world.chains["coles"]
        zones = self._state_zones(chain, _W)
        metro = self._zone(chain, "coles:metro", 0.12, 0.07)
        plan = self._plan(self._counts(830, _W, 2))
        liquor_plan = [(s, False) for s, n in self._counts(120, _W, 0).items() for _ in range(n)]
        liquor_plan = liquor_plan or [("NSW", False)]
        numbers = self._numbers(100, 9999, len(plan) + len(liquor_plan))
        local_count = max(2, round(0.06 * len(plan)))
        locals_ = {
            int(i) for i in self.rng.choice(np.arange(1, len(plan)), local_count, replace=False)
        }
        for i, (state, remote) in enumerate(plan):
            number = numbers[i]
            is_local = i in locals_ and not remote
            zone = metro if is_local else zones[state]
            if remote:
                zone = self._zone(chain, f"coles:remote:COL:{number}", 0.2, 0.07)
            store = self._coles_store(chain, "COL", number, state, remote, zone)
            if is_local:
                store.name = f"Coles Local {store.locality.suburb}"
                store.range_frac = 0.5
            self._add(chain, store)
        chain.default_store = chain.stores[0]
        liquor_dept = next(n.index for n in chain.catalogue.top_nodes() if n.name == "Liquorland")
        for j, (state, _) in enumerate(liquor_plan):
            store = self._coles_store(
                chain, "LQR", numbers[len(plan) + j], state, False, zones[state]
            )
            store.dept_only = liquor_dept
            self._add(chain, store)
        supermarkets = [s for s in chain.stores if s.division == "COL"]
        self._events(chain, [*list(zones.values()), metro], supermarkets)

    def _coles_store(
        self, chain: Chain, brand: str, number: int, state: str, remote: bool, zone: int
    ) -> Store:
        loc, lat, lng = self._place(state, remote)
        label = "Coles" if brand == "COL" else "Liquorland"
        return Store(
            "coles",
            0,
            f"{brand}:{number}",
            number,
            "",
            brand,
            f"{label} {loc.suburb}",
            loc,
            street_address(self.rng),
            lat,
            lng,
            self._phone(state),
            key_of(f"{self.world.seed}:coles:{number}"),
            zone,
        )

    def _aldi(self) -> None:
        chain = self.world.chains["aldi"]
        national = self._zone(chain, "aldi:national", 0.0, 0.04)
        regional = self._zone(chain, "aldi:regional", 0.15, 0.04)
        counts = self._counts(590, _ALDI_W, 2)
        numbers = self._numbers(1, 999, sum(counts.values()))
        for state, n in counts.items():
            for _ in range(n):
                number = numbers[len(chain.stores)]
                loc, lat, lng = self._place(state, False)
                zone = regional if state == "WA" else national
                store = Store(
                    "aldi",
                    0,
                    f"G{number}",
                    number,
                    "",
                    "ALDI",
                    loc.suburb,
                    loc,
                    street_address(self.rng),
                    lat,
                    lng,
                    "",
                    key_of(f"{self.world.seed}:aldi:{number}"),
                    zone,
                )
                self._add(chain, store)
        chain.default_store = chain.stores[0]
        self._events(chain, [national, regional])

    def _iga(self) -> None:
        chain = self.world.chains["iga"]
        chain.rrp_zone = Zone("iga:rrp", key_of(f"{self.world.seed}:iga:rrp"), 0.0, 0.05)
        online = self._counts(930, _W, 1)
        offline = self._counts(200, _W, 0)
        total = sum(online.values()) + sum(offline.values())
        ids = self._numbers(10_000, 29_999, total)
        rids = self._numbers(30_000, 99_999, total)
        plan = [(s, True) for s, n in online.items() for _ in range(n)]
        plan += [(s, False) for s, n in offline.items() for _ in range(n)]
        for i, (state, has_shop) in enumerate(plan):
            self._add(
                chain, self._iga_store(chain, ids[i], str(rids[i]) if has_shop else "", state)
            )
        chain.default_store = chain.stores[0]
        self._open_close(chain, [s for s in chain.stores if s.retailer_store_id])

    def _iga_store(self, chain: Chain, number: int, rid: str, state: str) -> Store:
        loc, lat, lng = self._place(state, bool(self.rng.random() < 0.05))
        template = ("IGA {s}", "IGA Local Grocer {s}", "IGA X-press {s}", "{u} IGA")
        name = template[int(self.rng.integers(len(template)))]
        zone = self._zone(chain, f"iga:{number}", 0.85, 0.05)
        store = Store(
            "iga",
            0,
            str(number),
            number,
            rid,
            "IGA",
            name.format(s=loc.suburb, u=loc.suburb.upper()),
            loc,
            street_address(self.rng),
            lat,
            lng,
            self._phone(state),
            key_of(f"{self.world.seed}:iga:{number}"),
            zone,
        )
        store.range_frac = float(self.rng.uniform(0.2, 1.0))
        store.rrp_share = float(self.rng.uniform(0.25, 0.40))
        store.coords_unknown = bool(self.rng.random() < 0.04)
        if rid:
            chain.by_id[rid] = store
        return store

    # --- seeded events ----------------------------------------------------------------
    def _events(
        self, chain: Chain, zone_pool: list[int], eligible: list[Store] | None = None
    ) -> None:
        pool = [s for s in (eligible or chain.stores) if s is not chain.default_store]
        normal = [s for s in pool if s.zone in zone_pool]
        for store in self._pick(normal, 0.25, 0):
            store.fresh_local = chain.name != "aldi"
        rogues = self._pick(normal, 0.02, 1)
        for store in rogues:
            store.rogue_day = int(self.rng.integers(3, 45))
            others = [z for z in zone_pool if z != store.zone]
            store.rogue_zone = others[int(self.rng.integers(len(others)))]
        self._open_close(chain, [s for s in pool if s not in rogues])

    def _open_close(self, chain: Chain, pool: list[Store]) -> None:
        pool = [s for s in pool if s is not chain.default_store]
        picked = self._pick(pool, 0.02, 2)
        for i, store in enumerate(picked):
            if i % 2 == 0:
                store.open_day = int(self.rng.integers(3, 60))
            else:
                store.close_day = int(self.rng.integers(5, 90))

    def _pick(self, pool: list[Store], share: float, minimum: int) -> list[Store]:
        count = min(len(pool), max(minimum, round(share * len(pool))))
        if count == 0:
            return []
        return [pool[int(i)] for i in self.rng.choice(len(pool), count, replace=False)]
