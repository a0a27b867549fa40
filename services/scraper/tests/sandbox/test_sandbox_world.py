"""The hidden world: determinism, zone structure and dynamics as the grouper will see them."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from splitcart_scraper.sandbox import World
from splitcart_scraper.sandbox.pricing import FIRST_WEDNESDAY


def _shared_equal(world: World, a: Any, b: Any, day: int) -> tuple[float, int]:
    """Share of common listed products priced exactly equal (the grouper's overlap)."""
    ta, tb = world.truth(a, day), world.truth(b, day)
    common, ia, ib = np.intersect1d(
        ta["sku"][ta["listed"]], tb["sku"][tb["listed"]], return_indices=True
    )
    pa = ta["price_cents"][ta["listed"]][ia]
    pb = tb["price_cents"][tb["listed"]][ib]
    return float((pa == pb).mean()), len(common)


def _members(world: World, chain: str, zone_id: str, day: int = 0) -> list[Any]:
    return [
        s
        for s in world.chains[chain].stores
        if world.zone_id(s, day) == zone_id and s.rogue_day is None and s.is_open(day)
    ]


def test_the_same_seed_builds_the_same_world() -> None:
    one, two = World(11, 0.03, 0.03), World(11, 0.03, 0.03)
    for chain in ("woolworths", "coles", "aldi", "iga"):
        assert [s.store_id for s in one.chains[chain].stores] == [
            s.store_id for s in two.chains[chain].stores
        ]
        assert one.chains[chain].catalogue.name == two.chains[chain].catalogue.name
        store_one, store_two = one.chains[chain].stores[1], two.chains[chain].stores[1]
        for day in (0, 9, 40):
            a, b = one.truth(store_one, day), two.truth(store_two, day)
            assert all(np.array_equal(a[k], b[k]) for k in a)


def test_a_different_seed_builds_a_different_world() -> None:
    one, two = World(11, 0.03, 0.03), World(12, 0.03, 0.03)
    assert [s.store_id for s in one.chains["coles"].stores] != [
        s.store_id for s in two.chains["coles"].stores
    ]


def test_store_ids_follow_the_chains_formats(world: World) -> None:
    assert all(s.store_id.startswith(("COL:", "LQR:")) for s in world.chains["coles"].stores)
    assert all(s.store_id.isdigit() for s in world.chains["woolworths"].stores)
    assert all(
        s.store_id[0] == "G" and s.store_id[1:].isdigit() for s in world.chains["aldi"].stores
    )
    iga = world.chains["iga"].stores
    assert all(
        s.store_id.isdigit() and (s.retailer_store_id == "" or s.retailer_store_id.isdigit())
        for s in iga
    )
    assert world.chains["woolworths"].default_store.store_id == "1101"


@pytest.mark.parametrize("chain", ["coles", "woolworths"])
def test_stores_of_one_zone_match_and_stores_of_different_zones_do_not(
    world: World, chain: str
) -> None:
    for day in (0, 17):
        nsw = [s for s in _members(world, chain, f"{chain}:NSW", day) if s.range_frac == 1]
        vic = _members(world, chain, f"{chain}:VIC", day)
        same, shared = _shared_equal(world, nsw[0], nsw[1], day)
        assert same >= 0.98 and shared > 100
        differ, _ = _shared_equal(world, nsw[0], vic[0], day)
        assert 0.65 <= differ <= 0.90, "zones differ on roughly 10-35% of products"


def test_metro_and_remote_stores_price_in_their_own_zones(world: World) -> None:
    chain = world.chains["woolworths"]
    metro = [
        s for s in chain.stores if s.division == "METRO" and s.rogue_day is None and s.is_open(0)
    ]
    nsw = _members(world, "woolworths", "woolworths:NSW")[0]
    assert _shared_equal(world, metro[0], metro[1], 0)[0] >= 0.98
    assert _shared_equal(world, metro[0], nsw, 0)[0] < 0.9
    remote = [
        s
        for s in chain.stores
        if chain.zones[s.zone].zone_id.startswith("woolworths:remote") and s.is_open(0)
    ]
    assert remote and _shared_equal(world, remote[0], nsw, 0)[0] < 0.9


def test_fresh_produce_exceptions_stay_within_two_percent_of_a_range(world: World) -> None:
    for chain in ("coles", "woolworths"):
        fresh = [s for s in world.chains[chain].stores if s.fresh_local and s.is_open(3)]
        assert fresh
        for store in fresh:
            idx = world.range_of(store)
            own = world.prices(store, idx, 3).price
            zone = world.zone_block(chain, store.zone_on(3), 3, idx).price
            assert 0 < (own != zone).mean() <= 0.02
            assert world.chains[chain].catalogue.is_fresh[idx[own != zone]].all()


def test_weekly_specials_are_per_zone_and_roll_over_on_wednesday(world: World) -> None:
    a, b = _members(world, "coles", "coles:NSW")[:2]
    wednesday = FIRST_WEDNESDAY + 7
    specials = {d: world.truth(a, d)["on_special"] for d in range(wednesday - 1, wednesday + 7)}
    assert (
        np.array_equal(world.truth(b, wednesday)["on_special"][:500], specials[wednesday][:500])
        or b.fresh_local
        or a.fresh_local
    )
    for day in range(wednesday + 1, wednesday + 7):
        assert np.array_equal(specials[day], specials[wednesday])
    assert not np.array_equal(specials[wednesday - 1], specials[wednesday])
    share = specials[wednesday].mean()
    assert 0.03 < share < 0.12


def test_prices_change_daily_in_a_zone(world: World) -> None:
    store = _members(world, "woolworths", "woolworths:QLD")[0]
    a, b = world.truth(store, 10), world.truth(store, 11)  # same special week
    changed = (a["price_cents"] != b["price_cents"]) & ~a["on_special"] & ~b["on_special"]
    assert 0 < changed.mean() < 0.2


def test_a_rogue_prices_like_its_old_zone_then_like_its_new_one(world: World) -> None:
    chain = world.chains["coles"]
    rogue = next(
        s
        for s in chain.stores
        if s.rogue_day is not None and s.is_open(0) and s.close_day > 90 and not s.fresh_local
    )
    old_zone, new_zone = chain.zones[rogue.zone].zone_id, chain.zones[rogue.rogue_zone].zone_id
    before, after = rogue.rogue_day - 1, rogue.rogue_day
    old_mate = next(s for s in _members(world, "coles", old_zone, before) if s.range_frac == 1)
    new_mate = next(s for s in _members(world, "coles", new_zone, after) if s.range_frac == 1)
    assert world.zone_id(rogue, before) == old_zone and world.zone_id(rogue, after) == new_zone
    assert _shared_equal(world, rogue, old_mate, before)[0] >= 0.98
    assert _shared_equal(world, rogue, old_mate, after)[0] < 0.9
    assert _shared_equal(world, rogue, new_mate, after)[0] >= 0.98


def test_aldi_is_national_with_a_small_separable_regional_zone(world: World) -> None:
    national = _members(world, "aldi", "aldi:national")
    regional = _members(world, "aldi", "aldi:regional")
    assert len(regional) < len(national) / 3
    assert _shared_equal(world, national[0], national[-1], 5)[0] == 1.0
    assert _shared_equal(world, regional[0], regional[1], 5)[0] == 1.0
    assert _shared_equal(world, national[0], regional[0], 5)[0] < 0.9


def test_iga_stores_are_independent_but_share_recommended_prices(world: World) -> None:
    stores = [s for s in world.chains["iga"].stores if s.retailer_store_id][:6]
    for a, b in itertools.pairwise(stores):
        same, _ = _shared_equal(world, a, b, 0)
        assert 0.05 < same < 0.5
    ranges = [len(world.range_of(s)) for s in world.chains["iga"].stores]
    size = world.chains["iga"].catalogue.size
    assert min(ranges) >= 0.15 * size and max(ranges) <= size


def test_products_are_listed_and_delisted_over_time(world: World) -> None:
    store = world.chains["woolworths"].default_store
    early, late = world.truth(store, 0)["listed"], world.truth(store, 150)["listed"]
    assert (early & ~late).any() and (late & ~early).any()


def test_stores_open_and_close_on_seeded_days(world: World) -> None:
    stores = world.chains["coles"].stores
    opening = next(s for s in stores if s.open_day > 0)
    closing = next(s for s in stores if s.close_day < 1 << 30)
    assert not opening.is_open(opening.open_day - 1) and opening.is_open(opening.open_day)
    assert closing.is_open(closing.close_day - 1) and not closing.is_open(closing.close_day)
