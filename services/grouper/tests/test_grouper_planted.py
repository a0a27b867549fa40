"""Planted price structure in the catalogue (bulk-inserted, both backends): rounds over
ingests and a full regroup both recover the planted zones exactly."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from splitcart_grouper.engine import EPOCH
from splitcart_grouper.engine.synthetic import PlantedCompany, aldi_like, chain_like
from splitcart_grouper.service import regroup
from splitcart_shared.clock import SimulatedClock, clock
from splitcart_shared.events import StoreIngested


async def seed(world: Any, planted: PlantedCompany) -> None:
    await world.catalog.company(planted.company, planted.prices.n_products)
    rows = []
    for store in planted.prices:
        idx, cents, ticks = (a.tolist() for a in planted.prices.observations(store))
        rows += [
            (store, i, c, EPOCH + timedelta(seconds=t))
            for i, c, t in zip(idx, cents, ticks, strict=True)
        ]
    await world.catalog.bulk_prices(planted.company, rows)


async def announce(world: Any, planted: PlantedCompany) -> None:
    for store in planted.prices:
        event = StoreIngested(
            company=planted.company,  # type: ignore[arg-type]
            store_id=store,
            kind="full",
            scraped_at=clock.now(),
            source_event_id="00000000-0000-0000-0000-000000000002",  # type: ignore[arg-type]
            products=planted.prices.n_products,
            new_products=0,
            changed_prices=0,
            delisted=0,
        )
        await world.deliver(event)


def companies() -> list[PlantedCompany]:
    """Generated as of the simulated clock's now, so every store is fresh."""
    now = clock.now()
    return [
        aldi_like(24, 300, seed=3, now=now),
        chain_like("coles", 36, 400, seed=4, now=now),
    ]


async def test_rounds_over_ingests_recover_the_planted_zones(
    world: Any, sim_clock: SimulatedClock
) -> None:
    for planted in companies():
        await seed(world, planted)
        await announce(world, planted)

        await world.round(planted.company)

        assert await world.partition(planted.company) == [set(z) for z in planted.planted()]


async def test_a_full_regroup_recovers_the_planted_zones(
    world: Any, sim_clock: SimulatedClock
) -> None:
    planted = companies()[1]
    await seed(world, planted)

    report = await regroup(world.grouper, planted.company)

    assert report.groups == len(planted.planted())
    assert await world.partition(planted.company) == [set(z) for z in planted.planted()]
