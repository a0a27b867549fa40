"""stores.discovered: companies, divisions and stores; closing, never deleting."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from splitcart_ingest import models


async def test_a_sweep_creates_the_company_its_divisions_and_stores(harness: Any) -> None:
    s = harness.make_store
    await harness.discover(
        "coles",
        [
            s("COL:858", division="Coles Supermarkets"),
            s("LQ:12", division="Liquorland", state="nsw"),
        ],
    )
    (company,) = await harness.rows(models.companies)
    assert company["company"] == "coles" and company["name"] == "Coles"
    divisions = {d["name"] for d in await harness.rows(models.divisions)}
    assert divisions == {"Coles Supermarkets", "Liquorland"}
    stores = {r["store_id"]: r for r in await harness.rows(models.stores)}
    assert set(stores) == {"COL:858", "LQ:12"}
    assert stores["LQ:12"]["state"] == "NSW" and stores["LQ:12"]["is_open"]
    assert stores["COL:858"]["postcode"] == "3121" and stores["COL:858"]["latitude"] == -37.82


async def test_zero_coordinates_are_stored_as_unknown(harness: Any) -> None:
    s = harness.make_store
    await harness.discover(
        "iga", [s("1", latitude=0.0, longitude=0.0), s("2", latitude=0.0, longitude=151.2)]
    )
    assert [(r["latitude"], r["longitude"]) for r in await harness.rows(models.stores)] == [
        (None, None),
        (None, None),
    ]


async def test_a_store_missing_from_a_complete_sweep_is_closed_not_deleted(harness: Any) -> None:
    s = harness.make_store
    await harness.discover("aldi", [s("G1"), s("G2")])
    await harness.discover("aldi", [s("G1")])
    stores = {r["store_id"]: r for r in await harness.rows(models.stores)}
    assert stores["G1"]["is_open"] and stores["G1"]["closed_at"] is None
    assert not stores["G2"]["is_open"] and stores["G2"]["closed_at"] is not None


async def test_an_incomplete_sweep_closes_nothing(harness: Any) -> None:
    s = harness.make_store
    await harness.discover("aldi", [s("G1"), s("G2")])
    await harness.discover("aldi", [s("G1")], complete=False)
    assert all(r["is_open"] for r in await harness.rows(models.stores))


async def test_a_closed_store_that_reappears_is_reopened(harness: Any) -> None:
    s = harness.make_store
    await harness.discover("aldi", [s("G1"), s("G2")])
    await harness.discover("aldi", [s("G1")])
    await harness.discover("aldi", [s("G1"), s("G2", name="Aldi Reborn")])
    g2 = next(r for r in await harness.rows(models.stores) if r["store_id"] == "G2")
    assert g2["is_open"] and g2["closed_at"] is None and g2["name"] == "Aldi Reborn"


async def test_a_sweep_older_than_the_applied_one_changes_nothing(harness: Any) -> None:
    s = harness.make_store
    await harness.discover("aldi", [s("G1"), s("G2")])
    before = await harness.state()
    await harness.discover("aldi", [s("G1")], swept_at=harness.clock - timedelta(days=1))
    assert await harness.state() == before


async def test_redelivered_sweep_changes_nothing(harness: Any) -> None:
    s = harness.make_store
    await harness.discover("woolworths", [s("1001")])
    envelope = await harness.discover("woolworths", [s("1275"), s("1001", name="Renamed")])
    before = await harness.state()
    await harness.deliver(envelope.typed(), envelope)
    assert await harness.state() == before
    assert await harness.count(models.messaging.inbox) == 2
