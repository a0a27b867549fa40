"""What every chain emulation shares: the sandbox context, counters, fast responses."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from starlette.responses import Response

from splitcart_scraper.sandbox.faults import FaultInjector
from splitcart_scraper.sandbox.world import PagePrices, Store, World

LISTING_ENDPOINTS = frozenset(
    {
        ("woolworths", "browse"),
        ("coles", "browse"),
        ("aldi", "product-search"),
        ("iga", "search"),
    }
)


class Counters:
    """Requests served per chain and endpoint (thread-safe: the bench reads while serving)."""

    def __init__(self) -> None:
        self._hits: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def hit(self, chain: str, endpoint: str) -> None:
        with self._lock:
            self._hits[(chain, endpoint)] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            items = list(self._hits.items())
        out: dict[str, dict[str, int]] = {}
        for (chain, endpoint), count in items:
            out.setdefault(chain, {})[endpoint] = count
        pages = sum(c for key, c in items if key in LISTING_ENDPOINTS)
        return {"requests": out, "pages": pages}

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()


@dataclass
class Sandbox:
    world: World
    faults: FaultInjector
    counters: Counters = field(default_factory=Counters)
    woolworths_sessions: dict[str, int] = field(default_factory=dict)
    static_caches: list[LazyBytes] = field(default_factory=list)

    def warm(self) -> None:
        """Serialise every product's static fields up front (a long scrape would anyway)."""
        for cache in self.static_caches:
            cache.fill()

    def day(self) -> int:
        return self.world.today()

    def mismatch(self, chain: str, store: Store) -> Store:
        """The served-store fault: another open store of the same chain."""
        if not self.faults.fires("store_mismatch", chain):
            return store
        pool = [s for s in self.world.open_stores(chain, self.day()) if s is not store]
        pool = [s for s in pool if chain != "iga" or s.retailer_store_id]
        return pool[self.faults.pick("store_mismatch", len(pool))] if pool else store

    def truncate(self, chain: str, rows: list[Any]) -> list[Any]:
        if rows and self.faults.fires("truncated", chain):
            return rows[: len(rows) // 2]
        return rows


def json_response(
    content: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    body = orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def html_response(text: str, status: int = 200) -> Response:
    return Response(text, status_code=status, media_type="text/html; charset=utf-8")


def dollars(cents: int) -> float:
    # int / 100 already gives the shortest float repr of a two-decimal amount
    return cents / 100


def money(cents: int) -> str:
    return f"${cents / 100:.2f}"


def as_list(values: np.ndarray) -> list[Any]:
    result: list[Any] = values.tolist()
    return result


class PriceFields:
    """A chain's serialised price fields, cached by value.

    They depend only on (product, price, regular price, special, available), which every
    store of a zone shares on a day, so most rows of a page are cache hits. The cache is
    simply dropped when it reaches ``limit`` entries, which bounds memory.
    """

    def __init__(
        self, build: Callable[[int, int, PagePrices], dict[str, Any]], limit: int = 60_000
    ) -> None:
        self._build = build
        self._limit = limit
        self._cache: dict[tuple[int, int, int, bool, bool], bytes] = {}

    def inner(self, product: int, k: int, prices: PagePrices) -> bytes:
        """The fields as JSON object members, without braces."""
        key = (
            product,
            prices.price[k],
            prices.regular[k],
            prices.on_special[k],
            prices.available[k],
        )
        members = self._cache.get(key)
        if members is None:
            if len(self._cache) >= self._limit:
                self._cache.clear()
            # the slice is an exact-size copy, so cached members hold no slack
            members = self._cache[key] = orjson.dumps(self._build(product, k, prices))[1:-1]
        return members


def row_bytes(members: bytes, static: bytes) -> bytes:
    """One JSON object from per-request members and a pre-serialised static object.

    Catalogue fields never change, so they are serialised once per product and only the
    prices, availability and served store are encoded per request.
    """
    return b"{" + members + b"," + static[1:]


class LazyBytes:
    """Per-product bytes built on first use and kept (bounded by the catalogue size)."""

    def __init__(self, build: Callable[[int], bytes], size: int) -> None:
        self._build = build
        self.size = size
        self._cache: dict[int, bytes] = {}

    def fill(self) -> None:
        for product in range(self.size):
            self[product]

    def __getitem__(self, product: int) -> bytes:
        value = self._cache.get(product)
        if value is None:
            # An exact-size copy: serialisers over-allocate and shrink in place, which
            # would leave each kept value holding a much larger heap block.
            value = self._cache[product] = bytes(memoryview(self._build(product)))
        return value


def static_rows(build: Callable[[int], dict[str, Any]], size: int) -> LazyBytes:
    """The pre-serialised static part of each product row of one chain."""
    return LazyBytes(lambda product: orjson.dumps(build(product)), size)


def json_bytes_response(
    body: bytes, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def join_json(rows: list[bytes]) -> bytes:
    return b"[" + b",".join(rows) + b"]"
