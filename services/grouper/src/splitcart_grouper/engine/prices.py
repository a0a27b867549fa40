"""Per-company price matrix kept in memory and updated from ingests.

One dense ``stores x products`` int32 matrix of price cents and one of observation
times. Dense beats sparse here: the big chains' stores carry most of the range
(Woolworths at national scale is ~1,130 x 23,600 ≈ 27M cells, ~210 MB for both
matrices), and dense rows let a comparison slice contiguous product ranges.

Times are int32 "ticks": whole seconds since :data:`EPOCH` (2000-01-01 UTC), good until
2068. A cell with no price has price :data:`NO_PRICE` and time :data:`NO_TIME` (0); keeping
the time at 0 means "current" (``tick >= now - freshness``) already implies "priced", so
the hot loop tests one matrix instead of two.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

NO_PRICE = -1
NO_TIME = 0
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MAX_TICK = np.iinfo(np.int32).max

I32 = npt.NDArray[np.int32]


def ticks(moment: datetime) -> int:
    """Seconds since :data:`EPOCH` for an aware datetime (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    value = int((moment - EPOCH).total_seconds())
    if not 0 < value <= _MAX_TICK:
        raise ValueError(f"{moment.isoformat()} is outside the representable range")
    return value


def unix_to_ticks(unix_seconds: npt.ArrayLike) -> I32:
    """Convert Unix seconds (what the database hands out) to ticks."""
    offset = int(EPOCH.timestamp())
    values = np.asarray(unix_seconds, dtype=np.int64) - offset
    if values.size and (values.min() <= 0 or values.max() > _MAX_TICK):
        raise ValueError("observation time outside the representable range")
    return values.astype(np.int32)


class CompanyPrices:
    """The current prices of one company's stores, one row per store.

    Rows are reused after :meth:`remove_store` (the last row moves into the hole), so row
    numbers are internal; callers name stores by key. Product indices are dense ints the
    caller assigns (0..n-1); the matrix widens when a larger index arrives.
    """

    def __init__(self, n_products: int = 0, capacity: int = 8) -> None:
        self._price: I32 = np.full((max(capacity, 1), max(n_products, 1)), NO_PRICE, np.int32)
        self._seen: I32 = np.full_like(self._price, NO_TIME)
        self._latest = np.zeros(self._price.shape[0], np.int64)
        self._keys: list[str] = []
        self._row: dict[str, int] = {}

    @classmethod
    def from_matrix(
        cls, store_keys: list[str], price_cents: I32, observed_at: I32
    ) -> CompanyPrices:
        """Bulk load (e.g. a company's whole current-price table at start-up).

        Row ``i`` is ``store_keys[i]``; negative prices mean "no price"; times in ticks.
        """
        if len(set(store_keys)) != len(store_keys):
            raise ValueError("duplicate store keys")
        price = np.asarray(price_cents, np.int32)
        seen = np.asarray(observed_at, np.int32)
        if price.shape != seen.shape or price.ndim != 2 or price.shape[0] != len(store_keys):
            raise ValueError("price and time matrices must be stores x products")
        priced = price >= 0
        if np.any(seen[priced] <= NO_TIME):
            raise ValueError("observation ticks must be positive")
        self = cls(n_products=price.shape[1], capacity=len(store_keys))
        self._price[: len(store_keys)] = np.where(priced, price, NO_PRICE)
        self._seen[: len(store_keys)] = np.where(priced, seen, NO_TIME)
        self._latest[: len(store_keys)] = self._seen[: len(store_keys)].max(axis=1, initial=0)
        self._keys = list(store_keys)
        self._row = {k: i for i, k in enumerate(store_keys)}
        return self

    # -- reading ----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, store_key: object) -> bool:
        return store_key in self._row

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._keys))

    @property
    def n_products(self) -> int:
        return int(self._price.shape[1])

    @property
    def prices(self) -> I32:
        """Price cents, ``len(self) x n_products`` (a view: do not write)."""
        return self._price[: len(self._keys)]

    @property
    def seen(self) -> I32:
        """Observation ticks, same shape as :attr:`prices` (a view: do not write)."""
        return self._seen[: len(self._keys)]

    def row(self, store_key: str) -> int:
        return self._row[store_key]

    def rows(self, store_keys: list[str]) -> npt.NDArray[np.intp]:
        return np.fromiter((self._row[k] for k in store_keys), np.intp, len(store_keys))

    def latest_seen(self, store_key: str) -> int:
        """The newest observation tick of a store (0 if it has none): "how fresh its data is"."""
        return int(self._latest[self._row[store_key]])

    def observations(self, store_key: str) -> tuple[I32, I32, I32]:
        """(product indices, price cents, ticks) of every priced cell of a store."""
        r = self._row[store_key]
        idx = np.flatnonzero(self._price[r] != NO_PRICE).astype(np.int32)
        return idx, self._price[r, idx], self._seen[r, idx]

    # -- writing ----------------------------------------------------------------------

    def upsert_store(
        self,
        store_key: str,
        product_idx: npt.ArrayLike,
        price_cents: npt.ArrayLike,
        observed_at: npt.ArrayLike,
        *,
        replace: bool = True,
    ) -> None:
        """Apply one ingest of one store.

        ``observed_at`` is in ticks (see :func:`ticks` / :func:`unix_to_ticks`). A negative
        price means "no price" and clears the cell. ``replace=True`` (a full scrape, or the
        store's whole current-price set) first clears the row; ``replace=False`` (a spot
        check) only touches the listed products.
        """
        idx, price, seen = _validated(product_idx, price_cents, observed_at)
        r = self._ensure_row(store_key)
        if idx.size:
            self._ensure_products(int(idx.max()) + 1)
        if replace:
            self._price[r] = NO_PRICE
            self._seen[r] = NO_TIME
        priced = price >= 0
        self._price[r, idx] = np.where(priced, price, NO_PRICE)
        self._seen[r, idx] = np.where(priced, seen, NO_TIME)
        self._latest[r] = int(self._seen[r].max())

    def remove_store(self, store_key: str) -> None:
        r = self._row.pop(store_key)
        last = len(self._keys) - 1
        if r != last:
            moved = self._keys[last]
            self._price[r] = self._price[last]
            self._seen[r] = self._seen[last]
            self._latest[r] = self._latest[last]
            self._keys[r] = moved
            self._row[moved] = r
        self._keys.pop()
        self._price[last] = NO_PRICE
        self._seen[last] = NO_TIME
        self._latest[last] = 0

    def _ensure_row(self, store_key: str) -> int:
        if store_key in self._row:
            return self._row[store_key]
        r = len(self._keys)
        if r == self._price.shape[0]:
            self._resize(rows=2 * r, cols=self._price.shape[1])
        self._keys.append(store_key)
        self._row[store_key] = r
        return r

    def _ensure_products(self, needed: int) -> None:
        cols = self._price.shape[1]
        if needed > cols:
            self._resize(rows=self._price.shape[0], cols=max(needed, cols + cols // 2))

    def _resize(self, rows: int, cols: int) -> None:
        # Amortised growth: a service adding stores one ingest at a time copies O(n) total.
        price = np.full((rows, cols), NO_PRICE, np.int32)
        seen = np.full((rows, cols), NO_TIME, np.int32)
        old_r, old_c = self._price.shape
        price[:old_r, :old_c] = self._price
        seen[:old_r, :old_c] = self._seen
        latest = np.zeros(rows, np.int64)
        latest[:old_r] = self._latest
        self._price, self._seen, self._latest = price, seen, latest


def _validated(
    product_idx: npt.ArrayLike, price_cents: npt.ArrayLike, observed_at: npt.ArrayLike
) -> tuple[npt.NDArray[np.intp], I32, I32]:
    idx = np.asarray(product_idx, dtype=np.intp).ravel()
    price = np.asarray(price_cents, dtype=np.int64).ravel()
    seen = np.asarray(observed_at, dtype=np.int64).ravel()
    if not idx.size == price.size == seen.size:
        raise ValueError("product_idx, price_cents and observed_at differ in length")
    if idx.size and idx.min() < 0:
        raise ValueError("product indices are non-negative")
    if np.unique(idx).size != idx.size:
        raise ValueError("a product appears twice in one ingest")
    if price.size and price.max() > np.iinfo(np.int32).max:
        raise ValueError("price does not fit in int32 cents")
    if seen.size and (seen[price >= 0].min(initial=1) <= NO_TIME or seen.max() > _MAX_TICK):
        raise ValueError("observation ticks must be positive int32")
    return idx, price.astype(np.int32), seen.astype(np.int32)
