"""Per-company price matrix kept in memory and updated from ingests.

One dense ``stores x products`` int32 matrix of price cents and one of observation
times. Dense beats sparse here: the big chains' stores carry most of the range
(Woolworths at national scale is ~1,130 x 23,600 ≈ 27M cells, ~210 MB for both
matrices), and dense rows let a comparison slice contiguous product ranges.

Times are int32 "ticks": whole seconds since :data:`EPOCH` (2000-01-01 UTC), good until
2068. A cell with no price has price :data:`NO_PRICE` and time :data:`NO_TIME` (0); keeping
the time at 0 means "current" (``tick >= now - freshness``) already implies "priced".

A third matrix, the *effective* prices (:meth:`CompanyPrices.effective`), holds the price
where it is current and :data:`NO_PRICE` elsewhere, for one "oldest current tick". It is
kept up to date incrementally: an ingest rewrites its row, and moving the clock only
recomputes the rows that have an observation between the old and the new boundary. The
comparator then reads one matrix per comparison instead of two.
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

    Not thread-safe, and reads refresh the effective-price cache: use one company's
    prices from one thread at a time (the service's per-company lock does this).
    """

    def __init__(self, n_products: int = 0, capacity: int = 8) -> None:
        self._price: I32 = np.full((max(capacity, 1), max(n_products, 1)), NO_PRICE, np.int32)
        self._seen: I32 = np.full_like(self._price, NO_TIME)
        self._eff: I32 = np.full_like(self._price, NO_PRICE)
        self._cur = np.zeros((self._price.shape[0], 3), np.int64)
        self._eff_oldest: int | None = None
        self._times: list[_Ticks] = []
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
        self._times = [_Ticks.of(row) for row in self._seen[: len(store_keys)]]
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

    def effective(self, oldest: int) -> I32:
        """Prices observed at or after tick ``oldest``, :data:`NO_PRICE` elsewhere (a view)."""
        self._sync(oldest)
        return self._eff[: len(self._keys)]

    def current_stats(self, oldest: int) -> npt.NDArray[np.int64]:
        """Per row: [count, first tick, last tick] of the observations at or after
        ``oldest`` (zeros when there are none), ``len(self) x 3`` (a view)."""
        self._sync(oldest)
        return self._cur[: len(self._keys)]

    def _sync(self, oldest: int) -> None:
        n = len(self._keys)
        if self._eff_oldest is None:
            self._eff[:n] = np.where(self._seen[:n] >= oldest, self._price[:n], NO_PRICE)
            if n:
                self._cur[:n] = [t.since(oldest) for t in self._times]
        elif oldest != self._eff_oldest:
            lo, hi = sorted((oldest, self._eff_oldest))
            first = np.fromiter((t.first for t in self._times), np.int64, n)
            last = np.fromiter((t.latest for t in self._times), np.int64, n)
            for r in np.flatnonzero((first < hi) & (last >= lo)).tolist():
                if self._times[r].any_between(lo, hi):
                    self._refresh(r, oldest)
        self._eff_oldest = oldest

    def _refresh(self, r: int, oldest: int) -> None:
        self._eff[r] = np.where(self._seen[r] >= oldest, self._price[r], NO_PRICE)
        self._cur[r] = self._times[r].since(oldest)

    def row(self, store_key: str) -> int:
        return self._row[store_key]

    def rows(self, store_keys: list[str]) -> npt.NDArray[np.intp]:
        return np.array([self._row[k] for k in store_keys], np.intp)

    def latest_seen(self, store_key: str) -> int:
        """The newest observation tick of a store (0 if it has none): "how fresh its data is"."""
        return self._times[self._row[store_key]].latest

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
        self._times[r] = _Ticks.of(self._seen[r])
        if self._eff_oldest is not None:
            self._refresh(r, self._eff_oldest)

    def remove_store(self, store_key: str) -> None:
        r = self._row.pop(store_key)
        last = len(self._keys) - 1
        if r != last:
            moved = self._keys[last]
            self._price[r] = self._price[last]
            self._seen[r] = self._seen[last]
            self._eff[r] = self._eff[last]
            self._cur[r] = self._cur[last]
            self._times[r] = self._times[last]
            self._keys[r] = moved
            self._row[moved] = r
        self._keys.pop()
        self._times.pop()
        self._price[last] = NO_PRICE
        self._seen[last] = NO_TIME
        self._eff[last] = NO_PRICE
        self._cur[last] = 0

    def _ensure_row(self, store_key: str) -> int:
        if store_key in self._row:
            return self._row[store_key]
        r = len(self._keys)
        if r == self._price.shape[0]:
            self._resize(rows=2 * r, cols=self._price.shape[1])
        self._keys.append(store_key)
        self._times.append(_Ticks.of(self._seen[r]))
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
        eff = np.full((rows, cols), NO_PRICE, np.int32)
        eff[:old_r, :old_c] = self._eff
        cur = np.zeros((rows, 3), np.int64)
        cur[:old_r] = self._cur
        self._price, self._seen, self._eff, self._cur = price, seen, eff, cur


class _Ticks:
    """The distinct observation ticks of one store with cumulative counts: answers "how
    many current prices, observed between when and when" without touching the matrix."""

    __slots__ = ("cumulative", "values")

    def __init__(self, values: I32, cumulative: npt.NDArray[np.int64]) -> None:
        self.values, self.cumulative = values, cumulative

    @classmethod
    def of(cls, seen_row: I32) -> _Ticks:
        ordered = np.sort(seen_row[seen_row != NO_TIME])
        ends = np.append(np.flatnonzero(ordered[1:] != ordered[:-1]) + 1, ordered.size)
        ends = ends[ends > 0]
        return cls(ordered[ends - 1].astype(np.int32), ends.astype(np.int64))

    @property
    def first(self) -> int:
        return int(self.values[0]) if self.values.size else 0

    @property
    def latest(self) -> int:
        return int(self.values[-1]) if self.values.size else 0

    def any_between(self, lo: int, hi: int) -> bool:
        """Whether some observation tick ``t`` has ``lo <= t < hi``."""
        i = int(np.searchsorted(self.values, lo))
        return i < self.values.size and int(self.values[i]) < hi

    def since(self, oldest: int) -> tuple[int, int, int]:
        i = int(np.searchsorted(self.values, oldest))
        if i == self.values.size:
            return (0, 0, 0)
        before = int(self.cumulative[i - 1]) if i else 0
        count = int(self.cumulative[-1]) - before
        return (count, int(self.values[i]), int(self.values[-1]))


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
