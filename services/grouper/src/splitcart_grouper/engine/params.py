"""Thresholds of the grouping rule and the exact, integer form of the match decision.

Both comparators (the reference loop and the vectorised path) decide through the
functions here, so they can only disagree if their counts disagree. Thresholds are
turned into exact fractions once (``0.98`` becomes ``49/50``) and every comparison is
done on integers, so no float rounding can flip a decision at the boundary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction
from functools import cached_property

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def _exact(value: float) -> Fraction:
    # str() keeps the decimal the operator wrote (0.98 -> 49/50), not the binary float.
    return Fraction(str(value))


@dataclass(frozen=True)
class GroupingParams:
    """The SPEC glossary thresholds. All defaults are the SPEC's."""

    freshness: timedelta = timedelta(hours=72)
    pairing_window: timedelta = timedelta(hours=48)
    match_threshold: float = 0.98
    min_shared: int = 100
    min_range_overlap: float = 0.80
    # A spot check's mismatches eject only when a store matching at ``match_threshold``
    # would show that many in so small a sample less often than this (see ``doubtful``).
    spot_doubt_level: float = 0.01

    def __post_init__(self) -> None:
        if not 0 <= self.match_threshold <= 1 or not 0 <= self.min_range_overlap <= 1:
            raise ValueError("thresholds are shares between 0 and 1")
        if not 0 <= self.spot_doubt_level <= 1:
            raise ValueError("spot_doubt_level is a probability between 0 and 1")
        if self.min_shared < 1:
            raise ValueError("min_shared must be at least 1")

    @cached_property
    def freshness_seconds(self) -> int:
        return int(self.freshness.total_seconds())

    @cached_property
    def pairing_seconds(self) -> int:
        return int(self.pairing_window.total_seconds())

    @cached_property
    def _threshold(self) -> tuple[int, int]:
        exact = _exact(self.match_threshold)
        return exact.numerator, exact.denominator

    @cached_property
    def _range(self) -> tuple[int, int]:
        exact = _exact(self.min_range_overlap)
        return exact.numerator, exact.denominator

    def allowed_mismatches(self, shared: int) -> int:
        """Most mismatches a comparison of ``shared`` products may have and still match.

        ``floor(shared * (1 - threshold))`` computed exactly: with threshold ``N/D``,
        ``mismatches <= allowed`` iff ``mismatches * D <= shared * (D - N)`` iff
        ``equal / shared >= N / D``. This is the bound the fail-fast loop stops past.
        """
        n, d = self._threshold
        return shared * (d - n) // d

    def matched(self, shared: int, mismatches: int, smaller_catalogue: int) -> bool:
        """The match rule on exact integers (``mismatches`` may be any value above the
        allowed number when the comparison stopped early: the answer is the same)."""
        if shared < self.min_shared or shared == 0:
            return False
        n, d = self._range
        if shared * d < n * smaller_catalogue:
            return False
        return mismatches <= self.allowed_mismatches(shared)

    def inconclusive(self, shared: int, mismatches: int, matched: bool) -> bool:
        """Too little evidence to decide, and none of it against: the comparison failed only
        on the size rules (``min_shared``, range overlap) with mismatches still within the
        allowed number. A health check on such evidence neither confirms nor ejects."""
        return not matched and mismatches <= self.allowed_mismatches(shared)

    def doubtful(self, shared: int, mismatches: int) -> bool:
        """Whether ``mismatches`` among ``shared`` products of a *sample* (a spot check) are
        within what sampling alone gives a store that matches at ``match_threshold``: the
        chance of at least that many, were each product to mismatch with probability
        ``1 - match_threshold``, is at least ``spot_doubt_level``. A store pricing 1.5% of its
        range itself matches, yet a spot check of 40 products can show 2 of them; a store
        of another zone differs on far more. Such evidence neither confirms nor ejects: the
        store's whole catalogue decides."""
        if mismatches <= self.allowed_mismatches(shared):
            return False
        n, d = self._threshold
        return binomial_tail(shared, mismatches, (d - n) / d) >= self.spot_doubt_level

    def within_catalogue_allowance(self, mismatches: int, catalogue: int) -> bool:
        """Whether ``mismatches`` seen in a *sample* are no more than a whole catalogue of
        ``catalogue`` products may hold and still match. Lines a store prices itself are
        not spread evenly: fresh produce sits in a few categories, and a spot check whose
        bucket holds those categories shows every such line at several times its share of
        the catalogue (6 of 86 sampled products, from a store pricing 6 of its 437 lines
        itself). Such a sample cannot tell that store from a rogue; its whole catalogue can."""
        return mismatches <= self.allowed_mismatches(catalogue)

    def allowed_mismatches_many(self, shared: IntArray) -> IntArray:
        n, d = self._threshold
        return (shared * (d - n)) // d

    def matched_many(self, shared: IntArray, mismatches: IntArray, smaller: IntArray) -> BoolArray:
        """Vectorised :meth:`matched`; int64 is ample (counts ≤ 10^6, denominators small)."""
        n, d = self._range
        big_enough = (shared >= max(self.min_shared, 1)) & (shared * d >= n * smaller)
        return big_enough & (mismatches <= self.allowed_mismatches_many(shared))


def binomial_tail(n: int, k: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p). Both comparators call this with the same
    integers, so a decision on it is the same for both."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    below = sum(
        math.exp(
            math.lgamma(n + 1)
            - math.lgamma(i + 1)
            - math.lgamma(n - i + 1)
            + i * log_p
            + (n - i) * log_q
        )
        for i in range(k)
    )
    return max(0.0, 1.0 - below)
