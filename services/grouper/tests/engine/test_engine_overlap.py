"""The comparison rule, and the fast comparator agreeing with the reference loop."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from splitcart_grouper.engine import (
    CompanyPrices,
    FastComparator,
    GroupingParams,
    ReferenceComparator,
    full_regroup,
)

from .engine_support import NOW, PARAMS, add, base_prices, company, fast, tick, variant


def reference(prices: CompanyPrices, params: GroupingParams = PARAMS) -> ReferenceComparator:
    return ReferenceComparator.from_prices(prices, NOW, params)


def test_threshold_is_applied_exactly_at_the_boundary() -> None:
    assert PARAMS.allowed_mismatches(100) == 2
    assert PARAMS.allowed_mismatches(149) == 2
    assert PARAMS.allowed_mismatches(150) == 3
    assert PARAMS.matched(shared=100, mismatches=2, smaller_catalogue=100)
    assert not PARAMS.matched(shared=100, mismatches=3, smaller_catalogue=100)
    # 0.29 is not a binary float: the decimal the operator wrote is what counts.
    assert GroupingParams(match_threshold=0.71).allowed_mismatches(100) == 29


def test_two_percent_of_mismatches_still_match() -> None:
    base = base_prices(400)
    prices = company({"a": base, "b": variant(base, 8), "c": variant(base, 9)})
    for cmp in (reference(prices), fast(prices)):
        assert cmp.compare("a", "b").matched
        assert not cmp.compare("a", "c").matched


def test_reference_stops_early_and_reports_a_lower_bound() -> None:
    base = base_prices(400)
    prices = company({"a": base, "b": variant(base, 200)})
    stopped = reference(prices).compare("a", "b")
    counted = fast(prices).compare("a", "b")
    assert (stopped.mismatches, stopped.exact) == (PARAMS.allowed_mismatches(400) + 1, False)
    assert (counted.mismatches, counted.exact, counted.compared) == (200, True, 400)
    assert stopped.matched == counted.matched is False


def test_stale_prices_are_not_compared() -> None:
    base = base_prices(400)
    prices = company({"a": base})
    add(prices, "old", base, hours_ago=80)
    for cmp in (reference(prices), fast(prices)):
        assert cmp.current_count("old") == 0
        found = cmp.compare("a", "old")
        assert (found.compared, found.matched, found.true_overlap) == (0, False, None)


def test_observations_further_apart_than_the_pairing_window_are_not_shared() -> None:
    base = base_prices(400)
    prices = company({"a": base})
    add(prices, "b", base, hours_ago=1)
    add(prices, "c", base, hours_ago=60)
    prices.upsert_store("a", np.arange(200), base[:200], np.full(200, tick(55)), replace=False)
    for cmp in (reference(prices), fast(prices)):
        assert cmp.compare("a", "b").compared == 200
        assert cmp.compare("a", "c").compared == 200


def test_too_small_an_overlap_of_ranges_does_not_match() -> None:
    base = base_prices(1000)
    prices = company({"big": base})
    add(prices, "small", base[:700])
    prices.upsert_store("part", np.arange(300, 1000), base[300:], np.full(700, tick()))
    for cmp in (reference(prices), fast(prices)):
        assert cmp.compare("big", "small").matched  # shares all of the smaller range
        found = cmp.compare("small", "part")  # 400 shared of 700: 57 %
        assert (found.compared, found.matched) == (400, False)


def test_fewer_than_min_shared_products_never_match() -> None:
    base = base_prices(99)
    prices = company({"a": base, "b": base})
    for cmp in (reference(prices), fast(prices)):
        assert not cmp.compare("a", "b").matched


# -- property: both comparators decide alike on arbitrary data ----------------------------

_HOURS = st.sampled_from([0.5, 1.0, 20.0, 47.0, 49.5, 71.0, 73.0])


@st.composite
def random_company(draw: st.DrawFn) -> CompanyPrices:
    n_products = draw(st.integers(1, 60))
    n_stores = draw(st.integers(2, 6))
    prices = CompanyPrices()
    for s in range(n_stores):
        cells = draw(
            st.lists(
                st.tuples(st.sampled_from([-1, 100, 100, 100, 101, 102]), _HOURS),
                min_size=n_products,
                max_size=n_products,
            )
        )
        cents = np.array([c for c, _ in cells])
        seen = np.array([tick(h) for _, h in cells])
        prices.upsert_store(f"s{s}", np.arange(n_products), cents, seen)
    return prices


_PARAMS = st.builds(
    GroupingParams,
    match_threshold=st.sampled_from([0.5, 0.75, 0.9, 0.98, 1.0]),
    min_shared=st.integers(1, 12),
    min_range_overlap=st.sampled_from([0.0, 0.5, 0.8, 1.0]),
    pairing_window=st.sampled_from([timedelta(hours=48), timedelta(hours=2)]),
)


@settings(max_examples=300, deadline=None)
@given(prices=random_company(), params=_PARAMS, block=st.integers(1, 8))
def test_reference_and_fast_path_agree_on_random_inputs(
    prices: CompanyPrices, params: GroupingParams, block: int
) -> None:
    ref = ReferenceComparator.from_prices(prices, NOW, params)
    quick = FastComparator(prices, NOW, params, block=block)
    stores = list(prices)
    for a in stores:
        others = [b for b in stores if b != a]
        assert quick.matches(a, others) == ref.matches(a, others)
        for b in others:
            slow, exact = ref.compare(a, b), quick.compare(a, b)
            assert (slow.compared, slow.matched, slow.range_overlap) == (
                exact.compared,
                exact.matched,
                exact.range_overlap,
            )
            assert (
                slow.mismatches == exact.mismatches
                if slow.exact
                else slow.mismatches <= exact.mismatches
            )
    by_ref = full_regroup(stores, ReferenceComparator.from_prices(prices, NOW, params))
    by_fast = full_regroup(stores, FastComparator(prices, NOW, params, block=block))
    assert by_ref.decisions == by_fast.decisions
    assert by_ref.state.partition() == by_fast.state.partition()
