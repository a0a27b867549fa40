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
``mismatches = allowed + 1`` (a lower bound, ``exact=False``, so its ``true_overlap`` is
an upper bound; ``compared`` is always exact); its decision is the same as with the full
count, because the count only grows. The fast comparator always reports exact counts.

The fast comparator evaluates the same rule over NumPy blocks of products and many
stores at once: it walks the product range in blocks in ascending order and drops a
candidate once its mismatches exceed ``floor((1 - threshold) * min(|A|, |B|))``, the
most any final shared count could allow. That is the same stopping argument as the
reference loop, so a dropped pair can never be a match: nothing is decided by a
shortcut, and every count behind a match or a reported evidence is exact.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt

from .params import GroupingParams
from .prices import NO_PRICE, NO_TIME, CompanyPrices, ticks


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
        self._memo: dict[tuple[str, str], Evidence] = {}
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
        # Remembered per pair: the procedures ask for the evidence of a decision they
        # just took, and the data cannot change under one comparator.
        if (b, a) in self._memo:
            return replace(self._memo[b, a], store_a=a, store_b=b)
        if (a, b) not in self._memo:
            self._memo[a, b] = self._compare(a, b)
        return self._memo[a, b]

    def _compare(self, a: str, b: str, fail_fast: bool = True) -> Evidence:
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
                if fail_fast and mismatches > allowed:
                    break
        smaller = min(len(cat_a), len(cat_b))
        exact = not fail_fast or mismatches <= allowed
        return evidence(a, b, len(shared), mismatches, smaller, self.params, exact)

    def compare_many(self, a: str, others: Sequence[str]) -> list[Evidence]:
        """Health-check evidence: exact counts (how far past the allowed number a sample's
        mismatches go decides whether they are sampling noise)."""
        out = []
        for b in others:
            found = self.compare(a, b)
            if not found.exact:
                found = self._memo[a, b] = self._compare(a, b, fail_fast=False)
                self._memo.pop((b, a), None)
            out.append(found)
        return out

    def matches(self, a: str, others: Sequence[str]) -> list[bool]:
        return [self.compare(a, b).matched for b in others]


I64 = npt.NDArray[np.int64]
_ZERO, _NEVER = np.int32(0), np.int32(np.iinfo(np.int32).max)
_IMPOSSIBLE = np.int32(NO_PRICE - 1)  # never equal to a stored cell


class FastComparator:
    """Vectorised comparisons of one store against many over a :class:`CompanyPrices`.

    Built for one ``now`` over prices that do not change while it is used; cheap to
    build (per-store summaries are read on demand), so the service makes one per round.
    A scan reads the effective-price matrix (:meth:`CompanyPrices.effective`) through
    product-index slices (see :func:`_blocks`): candidates past their mismatch budget
    leave after each slice, so most non-matches cost one or two small slices while
    matches pay few slice overheads. Exact counts of every pair scanned to the end are
    kept, so the evidence of a decision already taken costs nothing.
    """

    def __init__(
        self, prices: CompanyPrices, now: datetime, params: GroupingParams, block: int = 256
    ) -> None:
        self.params = params
        self._prices = prices
        # Clamped above NO_TIME so an empty cell can never count as current.
        self._oldest = max(ticks(now) - params.freshness_seconds, NO_TIME + 1)
        self._block = block
        self._exact: dict[tuple[str, str], tuple[int, int, int]] = {}

    def knows(self, store: str) -> bool:
        return store in self._prices

    def latest(self, store: str) -> int:
        return self._prices.latest_seen(store)

    def current_count(self, store: str) -> int:
        return int(self._prices.current_stats(self._oldest)[self._prices.row(store), 0])

    def compare(self, a: str, b: str) -> Evidence:
        return self.compare_many(a, [b])[0]

    def compare_many(self, a: str, others: Sequence[str]) -> list[Evidence]:
        todo = [b for b in dict.fromkeys(others) if (a, b) not in self._exact]
        if todo:
            self._scan(a, todo, prune=False)
        return [evidence(a, b, *self._exact[a, b], params=self.params, exact=True) for b in others]

    def matches(self, a: str, others: Sequence[str]) -> list[bool]:
        return self._scan(a, list(others), prune=True) if others else []

    def _scan(self, a: str, others: list[str], prune: bool) -> list[bool]:
        """Count ``a`` against each of ``others``; return which match.

        With ``prune`` a candidate stops being scanned once it can no longer match
        (:meth:`GroupingParams.allowed_mismatches` of the smaller catalogue is the most
        any shared count could allow). Pairs scanned to the end have exact counts, kept
        for :meth:`compare_many`.
        """
        rows, ra = self._prices.rows(others), self._prices.row(a)
        stats = self._prices.current_stats(self._oldest)
        mine, theirs = stats[ra], stats[rows]
        smaller = np.minimum(theirs[:, 0], mine[0])
        # Both stores' current observations within one window: every shared product is
        # paired, so the per-product time test can be skipped (exactly the same counts).
        span = np.maximum(theirs[:, 2], mine[2]) - np.minimum(theirs[:, 1], mine[1])
        uniform = span <= self.params.pairing_seconds
        alive = smaller >= self.params.min_shared if prune else np.ones(len(rows), np.bool_)
        shared, mism = self._count(ra, rows, alive, smaller, uniform, prune)
        for k in np.flatnonzero(alive).tolist():
            counts = (int(shared[k]), int(mism[k]), int(smaller[k]))
            self._exact[a, others[k]] = self._exact[others[k], a] = counts
        matched: list[bool] = (alive & self.params.matched_many(shared, mism, smaller)).tolist()
        return matched

    def _count(
        self,
        ra: int,
        rows: npt.NDArray[np.intp],
        alive: npt.NDArray[np.bool_],
        smaller: I64,
        uniform: npt.NDArray[np.bool_],
        prune: bool,
    ) -> tuple[I64, I64]:
        price = self._prices.effective(self._oldest)
        shared = np.zeros(len(rows), np.int64)
        mism = np.zeros(len(rows), np.int64)
        # The candidates still in play, compacted: per slice, work and bookkeeping touch
        # only them; a candidate's counts are written back when it drops out or at the end.
        live = np.flatnonzero(alive)
        l_rows, l_uniform = rows[live], uniform[live]
        l_budget = self.params.allowed_mismatches_many(smaller[live])
        l_shared, l_mism = shared[live], mism[live]
        for cols in _blocks(price.shape[1], self._block):
            if live.size == 0:
                break
            mine = price[ra, cols]
            if mine.max(initial=NO_PRICE) < 0:
                continue
            both, same = self._block_counts(ra, l_rows, cols, mine, l_uniform)
            l_shared += both
            l_mism += both - same
            if prune and (l_mism > l_budget).any():
                keep = l_mism <= l_budget
                shared[live], mism[live] = l_shared, l_mism
                alive[live[~keep]] = False
                live, l_rows, l_uniform, l_budget = (
                    live[keep],
                    l_rows[keep],
                    l_uniform[keep],
                    l_budget[keep],
                )
                l_shared, l_mism = l_shared[keep], l_mism[keep]
        shared[live], mism[live] = l_shared, l_mism
        return shared, mism

    def _block_counts(
        self,
        ra: int,
        rows: npt.NDArray[np.intp],
        cols: slice,
        mine: npt.NDArray[np.int32],
        uniform: npt.NDArray[np.bool_],
    ) -> tuple[I64, I64]:
        """Shared and equal counts of one block. Where a has no current price, the
        threshold is unreachable and the wanted price impossible, so each count is one
        comparison against a per-column vector."""
        theirs = self._prices.effective(self._oldest)[rows, cols]
        current = mine >= 0
        floor = np.where(current, _ZERO, _NEVER)
        wanted = np.where(current, mine, _IMPOSSIBLE)
        if uniform.all():
            return _rowsum(theirs >= floor), _rowsum(theirs == wanted)
        seen = self._prices.seen
        paired = np.abs(seen[rows, cols] - seen[ra, cols]) <= self.params.pairing_seconds
        both = (theirs >= floor) & paired
        return _rowsum(both), _rowsum((theirs == wanted) & paired)


def _rowsum(mask: npt.NDArray[np.bool_]) -> I64:
    # What count_nonzero(axis=1) does, minus its Python-level dispatch (hot, tiny calls).
    counted: I64 = mask.sum(axis=1, dtype=np.int64)
    return counted


@functools.cache
def _blocks(width: int, first: int) -> list[slice]:
    """Slices of ``first``, 4x and 16x ``first`` products, then the rest in one: most
    non-matches leave within the first two, survivors pay for few gathers."""
    out, start = [], 0
    for size in (first, 4 * first, 16 * first):
        if start < width:
            out.append(slice(start, start + size))
        start += size
    if start < width:
        out.append(slice(start, width))
    return out
