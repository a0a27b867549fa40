"""Planted zones of sandbox-shaped chains are recovered exactly."""

from __future__ import annotations

import pytest
from splitcart_grouper.engine import FastComparator, ReferenceComparator, full_regroup
from splitcart_grouper.engine.synthetic import (
    NOW,
    PlantedCompany,
    aldi_like,
    chain_like,
    iga_like,
    national,
)

from .engine_support import PARAMS


def _pairs_wrong(found: list[frozenset[str]], planted: PlantedCompany) -> int:
    """Pairs of stores put together when planted apart, or apart when planted together."""
    group_of = {s: i for i, g in enumerate(found) for s in g}
    stores = sorted(planted.zone_of)
    return sum(
        (group_of[a] == group_of[b]) != (planted.zone_of[a] == planted.zone_of[b])
        for i, a in enumerate(stores)
        for b in stores[i + 1 :]
    )


@pytest.mark.parametrize(
    "planted",
    [
        aldi_like(120, 2550, seed=1),
        chain_like("coles", 200, 3000, seed=2),
        chain_like("woolworths", 260, 3000, seed=3, remote_share=0.05),
        iga_like(120, 3000, seed=4),
    ],
    ids=["aldi", "coles", "woolworths", "iga"],
)
def test_planted_zones_are_recovered_exactly(planted: PlantedCompany) -> None:
    result = full_regroup(list(planted.prices), FastComparator(planted.prices, NOW, PARAMS))
    assert _pairs_wrong(result.state.partition(), planted) == 0
    assert result.state.partition() == planted.planted()


def test_independent_iga_like_stores_never_merge() -> None:
    planted = iga_like(150, 4000, seed=5)
    result = full_regroup(list(planted.prices), FastComparator(planted.prices, NOW, PARAMS))
    assert len(result.state.groups) == 150
    assert not [d for d in result.decisions if type(d).__name__ == "Merged"]


def test_reference_recovers_the_same_zones_on_a_small_chain() -> None:
    planted = chain_like("coles", 40, 1200, seed=6)
    ref = ReferenceComparator.from_prices(planted.prices, NOW, PARAMS)
    by_ref = full_regroup(list(planted.prices), ref)
    by_fast = full_regroup(list(planted.prices), FastComparator(planted.prices, NOW, PARAMS))
    assert by_ref.state.partition() == by_fast.state.partition() == planted.planted()
    assert by_ref.decisions == by_fast.decisions  # merges carry exact, identical evidence


def test_national_dataset_has_all_four_chains_with_planted_structure() -> None:
    data = national(0.05)
    assert set(data.companies) == {"aldi", "coles", "woolworths", "iga"}
    assert data.companies["woolworths"].prices.n_products == 23600
    zones = {c: len(p.planted()) for c, p in data.companies.items()}
    assert zones["aldi"] <= 2 and zones["iga"] == len(data.companies["iga"].prices)
