"""An anchor that prices lines itself hands its title to a member that does not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from splitcart_ingest import models as catalog
from splitcart_shared.clock import SimulatedClock, clock
from sqlalchemy import insert

OWN_LINES = (7, 8, 9)


async def _history(w: Any, store: str, cents: np.ndarray, since: datetime) -> None:
    """The store's price history rows for its own lines (ingest writes them; the test's
    catalogue writes current prices only)."""
    pk = w.catalog.stores["coles", store]
    async with w.catalog.db.transaction() as s:
        for i in OWN_LINES:
            await s.execute(
                insert(catalog.price_history).values(
                    store_pk=pk,
                    product_id=w.catalog.products["coles"][i],
                    price_cents=int(cents[i]),
                    on_special=False,
                    available=True,
                    valid_from=since,
                    last_seen=since,
                )
            )


async def _group_of_five(
    w: Any, sim_clock: SimulatedClock, own_lines: bool, seen_again: int = 3
) -> tuple[str, Any]:
    """Five stores price alike; then the anchor prices OWN_LINES itself (or not), is fully
    scraped, and ``seen_again`` members are spot-checked at the group's prices. Returns the
    anchor and the group's prices."""
    base = w.base_prices()
    for store in ["A", "B", "D", "E", "F"]:
        await w.ingest(store, base)
    await w.round()
    anchor = await w.anchor_of("B")
    await _history(w, anchor, base, clock.now())
    sim_clock.advance(timedelta(hours=1))
    local = base.copy()
    if own_lines:
        for i in OWN_LINES:
            local[i] += 50
    await w.ingest(anchor, local)
    await _history(w, anchor, local, clock.now())
    await w.round()
    sim_clock.advance(timedelta(hours=1))
    members = sorted({"A", "B", "D", "E", "F"} - {anchor})
    for store in members[:seen_again]:
        await w.ingest(store, base, kind="spot")
    await w.round()
    assert await w.anchor_of("B") == anchor  # a spot check never takes the title
    sim_clock.advance(timedelta(hours=20))
    await w.ingest(anchor, local)  # the anchor's next daily scrape
    await w.round()
    return anchor, base


async def _handover_requests(w: Any) -> list[dict[str, Any]]:
    events = await w.events("store.rescrape_requested")
    return [e.payload for e in events if e.payload["reason"] == "tie_break"]


async def test_an_anchor_pricing_lines_itself_asks_a_member_for_its_whole_catalogue(
    world: Any, sim_clock: SimulatedClock
) -> None:
    anchor, base = await _group_of_five(world, sim_clock, own_lines=True)

    (asked,) = await _handover_requests(world)
    seen = sorted({"A", "B", "D", "E", "F"} - {anchor})[:3]
    assert asked["store_id"] in seen  # a member seen at the group's price on those lines

    await world.ingest(asked["store_id"], base)  # scraped at the anchor's very moment
    await world.round()
    assert await world.anchor_of("B") == asked["store_id"]

    sim_clock.advance(timedelta(hours=20))
    await world.ingest(asked["store_id"], base)  # the new anchor's own daily scrape
    await world.round()
    assert len(await _handover_requests(world)) == 1  # a clean anchor keeps its title


async def test_an_anchor_pricing_as_its_members_keeps_its_title(
    world: Any, sim_clock: SimulatedClock
) -> None:
    anchor, _ = await _group_of_five(world, sim_clock, own_lines=False)

    assert await _handover_requests(world) == []
    assert await world.anchor_of("B") == anchor


async def test_a_member_pricing_the_anchors_lines_as_it_does_takes_no_title_at_a_tie(
    world: Any, sim_clock: SimulatedClock
) -> None:
    anchor, base = await _group_of_five(world, sim_clock, own_lines=True)
    other = sorted({"A", "B", "D", "E", "F"} - {anchor})[3]
    local = base.copy()
    for i in OWN_LINES:
        local[i] += 50

    await world.ingest(other, local)  # a whole catalogue as fresh as the anchor's, alike
    await world.round()

    assert await world.anchor_of("B") == anchor


@pytest.mark.parametrize("anchor_prices_them", [True, False])
async def test_one_member_alone_against_the_anchor_on_lines_brings_a_second_opinion(
    world: Any, sim_clock: SimulatedClock, anchor_prices_them: bool
) -> None:
    stores = ["A", "B", "D", "E", "F"]
    base = world.base_prices()
    local = base.copy()
    for i in OWN_LINES:
        local[i] += 50
    rest = [i for i in range(len(base)) if i not in OWN_LINES]
    for store in stores:  # nobody is seen on OWN_LINES at first
        await world.ingest(store, base, only=rest)
    await world.round()
    anchor = await world.anchor_of("B")
    others = sorted(set(stores) - {anchor})
    doubter = others[-1]
    sim_clock.advance(timedelta(hours=1))
    priced = local if anchor_prices_them else base
    await world.ingest(anchor, priced)
    await _history(world, anchor, priced, clock.now())
    await world.round()
    sim_clock.advance(timedelta(hours=1))
    await world.ingest(doubter, base if anchor_prices_them else local, kind="spot")
    await world.round()
    sim_clock.advance(timedelta(hours=20))
    await world.ingest(anchor, priced)
    await world.round()

    (asked,) = await _handover_requests(world)
    assert asked["store_id"] == others[0]  # the lowest id of the members never seen on them

    await world.ingest(others[0], base)  # the group's prices, at the anchor's moment
    await world.round()
    assert (await world.anchor_of("B") == others[0]) is anchor_prices_them

    sim_clock.advance(timedelta(hours=20))
    now_anchor = await world.anchor_of("B")
    await world.ingest(now_anchor, priced if now_anchor == anchor else base)
    await world.round()
    assert len(await _handover_requests(world)) == 1  # settled either way: nobody else asked


def test_a_sighting_before_the_anchors_first_price_counts_against_it_within_the_grace() -> None:
    from splitcart_grouper.repository import _price_then

    t0 = datetime(2026, 3, 2, 6, tzinfo=UTC)
    history = [(t0, 300), (t0 + timedelta(days=2), 350)]
    grace = timedelta(hours=12)
    assert _price_then(history, t0 - timedelta(hours=6), grace) == 300  # probed that morning
    assert _price_then(history, t0 - timedelta(hours=13), grace) is None
    assert _price_then(history, t0, grace) == 300
    assert _price_then(history, t0 + timedelta(days=3), grace) == 350
    assert _price_then([], t0, grace) is None


@pytest.mark.parametrize("anchor_prices_them", [True, False])
async def test_a_large_group_without_a_recent_member_catalogue_has_its_anchor_audited(
    world: Any, sim_clock: SimulatedClock, anchor_prices_them: bool
) -> None:
    stores = ["A", "B", "D", "E", "F", "G", "H"]
    base = world.base_prices()
    local = base.copy()
    for i in OWN_LINES:
        local[i] += 50
    for store in stores:
        await world.ingest(store, base)
    await world.round()
    anchor = await world.anchor_of("B")
    others = sorted(set(stores) - {anchor})
    sim_clock.advance(timedelta(days=15))  # the members' catalogues are out of the window
    priced = local if anchor_prices_them else base
    await world.ingest(anchor, priced)
    await _history(world, anchor, priced, clock.now())
    await world.round()

    (audit,) = await _handover_requests(world)
    assert audit["store_id"] == others[0]

    await world.ingest(others[0], base)  # at the anchor's moment
    await world.round()
    asked = [r["store_id"] for r in await _handover_requests(world)]
    if anchor_prices_them:  # a lone member against the anchor: a second opinion
        assert asked == [others[0], others[1]]
        await world.ingest(others[1], base)
        await world.round()
        assert await world.anchor_of("B") in others[:2]
    else:
        assert asked == [others[0]]
        assert await world.anchor_of("B") == anchor
    sim_clock.advance(timedelta(hours=20))
    now_anchor = await world.anchor_of("B")
    await world.ingest(now_anchor, priced if now_anchor == anchor else base)
    await world.round()
    assert len(await _handover_requests(world)) == len(asked)  # nobody else asked
