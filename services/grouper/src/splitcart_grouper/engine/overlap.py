"""True Overlap of two stores: the reference loop and the vectorised comparator.

The comparison (SPEC glossary, issue 7), for stores A and B at time ``now``:

* A's *current* products are those with a price observed within ``freshness`` of
  ``now`` (``tick >= now - freshness``); observations are never carried beyond that.
* The *shared* products are those current at both, observed within ``pairing_window``
  of each other (``|tA - tB| <= pairing_window``).
* ``mismatches`` counts shared products whose price cents differ. A and B match iff
  ``mismatches <= floor(shared * (1 - threshold))`` (exact fractions, see
  :mod:`.params`), ``shared >= min_shared`` and
  ``shared >= min_range_overlap * min(|A current|, |B current|)``.

Fail-fast order: the shared products are scanned in ascending product index and the
scan stops at the first mismatch past the allowed number. A stopped comparison reports
``mismatches = allowed + 1`` (a lower bound, ``exact=False``); its decision is the same
as with the full count, because the count only grows.

The fast comparator evaluates the same rule over NumPy blocks of products and many
stores at once: it walks the product range in blocks in ascending order and drops a
candidate once its mismatches exceed ``floor((1 - threshold) * min(|A|, |B|))``, the
most any final shared count could allow. That is the same stopping argument as the
reference loop, so a dropped pair can never be a match: nothing is decided by a
shortcut, and every count behind a match or a reported evidence is exact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt

from .params import GroupingParams
from .prices import NO_PRICE, CompanyPrices, ticks


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one comparison found; ``exact=False`` when ``mismatches`` is a lower bound."""

    store_a: str
    store_b: str
    compared: int
    mismatches: int
    true_overlap: float | None
    range_overlap: float | None
    matched: bool
    exact: bool = True


def evidence(
    a: str, b: str, shared: int, mismatches: int, smaller: int, params: GroupingParams, exact: bool
) -> Evidence:
    return Evidence(
        store_a=a,
        store_b=b,
        compared=shared,
        mismatches=mismatches,
        true_overlap=(shared - mismatches) / shared if shared else None,
        range_overlap=shared / smaller if smaller else None,
        matched=params.matched(shared, mismatches, smaller),
        exact=exact,
    )


class Comparator(Protocol):
    """What the decision procedures need; both comparators give the same decisions."""

    params: GroupingParams

    def knows(self, store: str) -> bool: ...

    def current_count(self, store: str) -> int: ...

    def latest(self, store: str) -> int: ...

    def compare(self, a: str, b: str) -> Evidence: ...

    def compare_many(self, a: str, others: Sequence[str]) -> list[Evidence]: ...

    def matches(self, a: str, others: Sequence[str]) -> list[bool]: ...


Catalogue = Mapping[int, tuple[int, int]]  # product index -> (price cents, tick)


class ReferenceComparator:
    """The plain pairwise loop over dicts: deliberately simple, the yardstick."""

    def __init__(
        self, catalogues: Mapping[str, Catalogue], now: datetime, params: GroupingParams
    ) -> None:
        self.params = params
        oldest = ticks(now) - params.freshness_seconds
        self._current = {
            store: {p: (c, t) for p, (c, t) in cat.items() if c != NO_PRICE and t >= oldest}
            for store, cat in catalogues.items()
        }
        self._latest = {
            store: max((t for _, t in cat.values()), default=0) for store, cat in catalogues.items()
        }

    @classmethod
    def from_prices(
        cls, prices: CompanyPrices, now: datetime, params: GroupingParams
    ) -> ReferenceComparator:
        catalogues: dict[str, Catalogue] = {}
        for store in prices:
            idx, cents, seen = prices.observations(store)
            catalogues[store] = dict(
                zip(idx.tolist(), zip(cents.tolist(), seen.tolist(), strict=True), strict=True)
            )
        return cls(catalogues, now, params)

    def knows(self, store: str) -> bool:
        return store in self._current

    def current_count(self, store: str) -> int:
        return len(self._current[store])

    def latest(self, store: str) -> int:
        return self._latest[store]

    def compare(self, a: str, b: str) -> Evidence:
        cat_a, cat_b = self._current[a], self._current[b]
        window = self.params.pairing_seconds
        shared = sorted(
            p for p, (_, t) in cat_a.items() if p in cat_b and abs(t - cat_b[p][1]) <= window
        )
        allowed = self.params.allowed_mismatches(len(shared))
        mismatches = 0
        for p in shared:
            if cat_a[p][0] != cat_b[p][0]:
                mismatches += 1
                if mismatches > allowed:
                    break
        smaller = min(len(cat_a), len(cat_b))
        exact = mismatches <= allowed
        return evidence(a, b, len(shared), mismatches, smaller, self.params, exact)

    def compare_many(self, a: str, others: Sequence[str]) -> list[Evidence]:
        return [self.compare(a, b) for b in others]

    def matches(self, a: str, others: Sequence[str]) -> list[bool]:
        return [self.compare(a, b).matched for b in others]


I64 = npt.NDArray[np.int64]


class FastComparator:
    """Vectorised comparisons of one store against many over a :class:`CompanyPrices`.

    Built for one ``now``; cheap to build (per-store counts are computed on demand), so
    the service makes one per round. ``block`` is the width of the product-index slices
    a scan advances by; candidates past their mismatch budget leave after each slice.
    """

    def __init__(
        self, prices: CompanyPrices, now: datetime, params: GroupingParams, block: int = 2048
    ) -> None:
        self.params = params
        self._prices = prices
        self._oldest = ticks(now) - params.freshness_seconds
        self._block = block
        self._counts = np.full(len(prices), -1, np.int64)

    def knows(self, store: str) -> bool:
        return store in self._prices

    def latest(self, store: str) -> int:
        return self._prices.latest_seen(store)

    def current_count(self, store: str) -> int:
        return int(self._current_counts(self._prices.rows([store]))[0])

    def compare(self, a: str, b: str) -> Evidence:
        return self.compare_many(a, [b])[0]

    def compare_many(self, a: str, others: Sequence[str]) -> list[Evidence]:
        shared, mism, smaller, _ = self._scan(a, list(others), prune=False)
        return [
            evidence(a, b, int(s), int(m), int(n), self.params, exact=True)
            for b, s, m, n in zip(others, shared, mism, smaller, strict=True)
        ]

    def matches(self, a: str, others: Sequence[str]) -> list[bool]:
        shared, mism, smaller, alive = self._scan(a, list(others), prune=True)
        decided = self.params.matched_many(shared, mism, smaller) & alive
        return [bool(x) for x in decided]

    def _current_counts(self, rows: npt.NDArray[np.intp]) -> I64:
        missing = rows[self._counts[rows] < 0]
        if missing.size:
            seen = self._prices.seen
            self._counts[missing] = np.count_nonzero(seen[missing] >= self._oldest, axis=1)
        return self._counts[rows]

    def _scan(
        self, a: str, others: list[str], prune: bool
    ) -> tuple[I64, I64, I64, npt.NDArray[np.bool_]]:
        """Shared and mismatch counts of ``a`` against each of ``others``.

        With ``prune`` a candidate stops being scanned once it can no longer match; its
        counts are then partial and ``alive`` is False for it.
        """
        price, seen = self._prices.prices, self._prices.seen
        ra = self._prices.row(a)
        rows = self._prices.rows(others)
        smaller = np.minimum(self._current_counts(rows), self._current_counts(np.array([ra]))[0])
        budget = self.params.allowed_mismatches_many(smaller)
        shared = np.zeros(len(rows), np.int64)
        mism = np.zeros(len(rows), np.int64)
        alive = smaller >= self.params.min_shared if prune else np.ones(len(rows), np.bool_)
        current_a = seen[ra] >= self._oldest
        window = self.params.pairing_seconds
        for start in range(0, price.shape[1], self._block):
            live = np.flatnonzero(alive)
            if live.size == 0:
                break
            cols = slice(start, start + self._block)
            mine = current_a[cols]
            if not mine.any():
                continue
            t_a = seen[ra, cols]
            t_b = seen[rows[live], cols]
            ok = (t_b >= self._oldest) & mine
            ok &= np.abs(t_b - t_a) <= window
            differ = ok & (price[rows[live], cols] != price[ra, cols])
            shared[live] += np.count_nonzero(ok, axis=1)
            mism[live] += np.count_nonzero(differ, axis=1)
            if prune:
                alive[live] = mism[live] <= budget[live]
        return shared, mism, smaller, alive
