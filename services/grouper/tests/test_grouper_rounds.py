"""Grouping rounds after batches of ``store.ingested`` (both backends): the decisions of
issue 7, the events they emit, and the tables they leave behind."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from splitcart_grouper import models
from splitcart_shared.clock import SimulatedClock, clock
from splitcart_shared.events import StoreRecord, StoresDiscovered

HOUR = timedelta(hours=1)


async def identical(world: Any, *stores: str) -> Any:
    base = world.base_prices()
    for store in stores:
        await world.ingest(store, base)
    return base


async def test_matching_stores_merge_and_a_different_one_stays_alone(world: Any) -> None:
    base = await identical(world, "A", "B")
    await world.ingest("C", world.variant(base, 30))

    report = await world.round()

    assert await world.partition() == [{"A", "B"}, {"C"}]
    assert report.fresh == ["A", "B", "C"]
    assert report.events == ["group.merged"]
    (merged,) = await world.events("group.merged")
    assert merged.payload["anchor_store_id"] == "A"
    assert merged.payload["moved_store_ids"] == ["B"]
    assert merged.payload["evidence"]["compared"] == 200
    assert merged.payload["evidence"]["matched"] is True
    (proof,) = await world.evidence("merged")
    assert (proof["store_a"], proof["store_b"], proof["mismatches"]) == ("A", "B", 0)


async def test_every_store_starts_alone_with_itself_as_anchor(world: Any) -> None:
    base = world.base_prices()
    await world.ingest("A", base)
    await world.ingest("B", world.variant(base, 30))

    await world.round()

    for store in ("A", "B"):
        assert await world.anchor_of(store) == store
        (row,) = await world.history(store)
        assert (row["role"], row["anchor_store_id"], row["valid_to"]) == ("anchor", store, None)


async def test_stores_known_only_from_the_catalogue_get_a_group_of_one(world: Any) -> None:
    await world.catalog.store("coles", "Q")
    await world.ingest("A", world.base_prices())

    await world.round()

    assert await world.partition() == [{"A"}, {"Q"}]


async def test_confirmed_member_with_fresher_data_takes_the_anchor(
    world: Any, sim_clock: SimulatedClock
) -> None:
    base = await identical(world, "A", "B")
    await world.round()
    sim_clock.advance(HOUR)
    await world.ingest("B", base)

    report = await world.round()

    assert report.events == ["group.member_confirmed", "group.anchor_changed"]
    (confirmed,) = await world.events("group.member_confirmed")
    assert confirmed.payload["store_id"] == "B"
    assert confirmed.payload["anchor_store_id"] == "A"
    assert confirmed.payload["consecutive_confirmations"] == 1
    (changed,) = await world.events("group.anchor_changed")
    assert (changed.payload["old_anchor_store_id"], changed.payload["new_anchor_store_id"]) == (
        "A",
        "B",
    )
    assert await world.anchor_of("A") == "B"
    member = await world.membership("B")
    assert (member["role"], member["consecutive_confirmations"]) == ("anchor", 1)


async def test_confirmations_count_up_in_a_row(world: Any, sim_clock: SimulatedClock) -> None:
    base = await identical(world, "A", "B")
    await world.round()
    for expected in (1, 2, 3):
        sim_clock.advance(HOUR)
        await world.ingest("A", base)  # both fresh, equally: B stays a member
        await world.ingest("B", base)
        await world.round()
        confirmed = await world.events("group.member_confirmed")
        assert confirmed[-1].payload["consecutive_confirmations"] == expected
    assert (await world.membership("B"))["consecutive_confirmations"] == 3


async def test_rogue_member_is_ejected_and_rehomed_with_the_store_it_now_matches(
    world: Any, sim_clock: SimulatedClock
) -> None:
    base = await identical(world, "A", "B")
    other = world.variant(base, 30)
    await world.ingest("C", other)
    await world.round()
    sim_clock.advance(HOUR)
    await world.ingest("B", other)

    report = await world.round()

    assert await world.partition() == [{"A"}, {"B", "C"}]
    assert report.events == ["store.ejected", "group.merged"]
    (ejected,) = await world.events("store.ejected")
    assert ejected.payload["reason"] == "mismatch"
    assert ejected.payload["evidence"]["matched"] is False
    (rehomed,) = await world.evidence("rehomed")
    assert (rehomed["store_a"], rehomed["store_b"], rehomed["matched"]) == ("C", "B", True)
    assert (await world.membership("B"))["consecutive_confirmations"] == 0


async def test_lone_mismatch_in_a_larger_group_asks_another_member_for_a_tie_break(
    world: Any, sim_clock: SimulatedClock
) -> None:
    base = await identical(world, "A", "B", "C")
    await world.round()
    sim_clock.advance(HOUR)
    await world.ingest("B", world.variant(base, 30))

    report = await world.round()

    assert report.events == ["store.rescrape_requested"]
    (asked,) = await world.events("store.rescrape_requested")
    assert (asked.payload["store_id"], asked.payload["reason"]) == ("C", "tie_break")
    assert await world.partition() == [{"A", "B", "C"}]
    assert (await world.membership("B"))["awaiting_tie_break_from"] == "C"


async def test_tie_break_that_sides_with_the_anchor_ejects_the_doubted_member(
    world: Any, sim_clock: SimulatedClock
) -> None:
    base = await identical(world, "A", "B", "C")
    await world.round()
    sim_clock.advance(HOUR)
    await world.ingest("B", world.variant(base, 30))
    await world.round()
    sim_clock.advance(HOUR)
    await world.ingest("C", base)

    report = await world.round()

    assert "store.ejected" in report.events
    assert await world.partition() == [{"A", "C"}, {"B"}]


async def test_majority_of_checked_members_against_the_anchor_makes_the_anchor_the_rogue(
    world: Any, sim_clock: SimulatedClock
) -> None:
    base = await identical(world, "A", "B", "C")
    await world.round()
    sim_clock.advance(HOUR)
    moved = world.variant(base, 30)
    await world.ingest("B", moved)
    await world.ingest("C", moved)

    report = await world.round()

    assert await world.partition() == [{"A"}, {"B", "C"}]
    assert report.events[:2] == ["group.anchor_changed", "store.ejected"]
    (ejected,) = await world.events("store.ejected")
    assert (ejected.payload["store_id"], ejected.payload["reason"]) == ("A", "anchor_rogue")
    assert await world.anchor_of("C") == "B"


async def test_stale_anchor_gets_a_rescrape_request_and_its_group_is_skipped(
    world: Any, sim_clock: SimulatedClock
) -> None:
    base = await identical(world, "A", "B")
    await world.round()
    sim_clock.advance(timedelta(hours=80))
    await world.ingest("B", world.variant(base, 30))

    report = await world.round()

    assert report.events == ["store.rescrape_requested"]
    (asked,) = await world.events("store.rescrape_requested")
    assert (asked.payload["store_id"], asked.payload["reason"]) == ("A", "stale_anchor")
    assert await world.partition() == [{"A", "B"}]


async def test_different_companies_are_never_compared(world: Any) -> None:
    base = world.base_prices()
    await world.ingest("1", base, company="coles")
    await world.ingest("1", base, company="woolworths")

    await world.round("coles")
    await world.round("woolworths")

    assert await world.partition("coles") == [{"1"}]
    assert await world.partition("woolworths") == [{"1"}]
    assert await world.events() == []


async def test_membership_history_tiles_time_across_group_and_anchor_changes(
    world: Any, sim_clock: SimulatedClock
) -> None:
    base = await identical(world, "A", "B")
    await world.round()  # B folds into A's group
    sim_clock.advance(HOUR)
    await world.ingest("B", base)
    await world.round()  # B takes the anchor

    rows = await world.history("B")
    # Founded and folded within one round: recorded once, as where the round left it.
    assert [(r["role"], r["anchor_store_id"]) for r in rows] == [("member", "A"), ("anchor", "B")]
    assert [r["valid_to"] for r in rows[:-1]] == [r["valid_from"] for r in rows[1:]]
    assert rows[-1]["valid_to"] is None
    a_rows = await world.history("A")
    assert [(r["role"], r["anchor_store_id"]) for r in a_rows] == [("anchor", "A"), ("member", "B")]


async def test_empty_groups_are_deleted(world: Any) -> None:
    await identical(world, "A", "B")

    await world.round()

    groups = await world.rows(models.groups)
    assert len(groups) == 1
    assert groups[0]["anchor_store_id"] == "A"


# --- consumers: idempotency ---------------------------------------------------------------


async def test_redelivered_store_ingested_changes_nothing(world: Any) -> None:
    base = world.base_prices()
    await world.ingest("A", base)
    envelope = await world.ingest("B", base)
    await world.round()
    before = await world.snapshot()

    await world.deliver(envelope.typed(), envelope)
    report = await world.round()

    assert report.fresh == []
    assert report.events == []
    assert await world.snapshot() == before


async def test_store_ingested_delivered_twice_before_a_round_marks_the_store_once(
    world: Any,
) -> None:
    envelope = await world.ingest("A", world.base_prices())
    await world.deliver(envelope.typed(), envelope)

    (dirty,) = await world.rows(models.dirty_stores)
    assert (dirty["store_id"], dirty["kind"], dirty["mark"]) == (
        "A",
        "full",
        str(envelope.event_id),
    )


async def test_a_full_scrape_pending_is_not_downgraded_by_a_later_spot_check(world: Any) -> None:
    base = world.base_prices()
    await world.ingest("A", base)
    await world.ingest("A", base, kind="spot")

    (dirty,) = await world.rows(models.dirty_stores)
    assert dirty["kind"] == "full"


async def test_discovered_stores_start_in_groups_of_one_and_redelivery_changes_nothing(
    world: Any,
) -> None:
    sweep = StoresDiscovered(
        company="aldi",
        swept_at=clock.now(),
        stores=[StoreRecord(store_id=s, name=s, division="ALDI") for s in ("G1", "G2")],
    )
    envelope = await world.deliver(sweep)
    await world.round("aldi")
    before = await world.snapshot()

    await world.deliver(sweep, envelope)
    await world.round("aldi")

    assert await world.partition("aldi") == [{"G1"}, {"G2"}]
    assert await world.snapshot() == before


async def test_rogue_found_by_a_spot_check_with_no_home_asks_for_a_full_rescrape(
    world: Any, sim_clock: SimulatedClock
) -> None:
    base = await identical(world, "A", "B")
    await world.round()
    sim_clock.advance(HOUR)
    await world.ingest("B", world.variant(base, 30), kind="spot")

    report = await world.round()

    assert report.events == ["store.ejected", "store.rescrape_requested"]
    (asked,) = await world.events("store.rescrape_requested")
    assert (asked.payload["store_id"], asked.payload["reason"]) == ("B", "rehoming")


async def test_rounds_see_only_what_was_announced_by_store_ingested(
    world: Any, sim_clock: SimulatedClock
) -> None:
    base = await identical(world, "A", "B")
    await world.round()
    sim_clock.advance(HOUR)
    # New prices in the catalogue, not yet announced: the round works on what it loaded.
    await world.catalog.prices("coles", "B", world.variant(base, 30), sim_clock.now())
    await world.round()
    assert await world.partition() == [{"A", "B"}]

    await world.ingest("B", world.variant(base, 30))
    await world.round()

    assert await world.partition() == [{"A"}, {"B"}]


async def test_company_load_in_small_chunks_equals_store_by_store_reads(
    world: Any, monkeypatch: Any
) -> None:
    from splitcart_grouper import loader, repository

    base = world.base_prices()
    await world.ingest("A", base)
    await world.ingest("B", world.variant(base, 30), only=range(120))
    monkeypatch.setattr(repository, "_FETCH_CHUNK", 7)

    async with world.db.read() as session:
        whole = await loader.load_company(session, "coles")
        piecewise = loader.CompanyData("coles")
        await loader.refresh_stores(session, piecewise, ["A", "B"])

    for store in ("A", "B"):
        got, want = _by_product(whole, store), _by_product(piecewise, store)
        assert len(got) == (200 if store == "A" else 120)
        assert got == want


def _by_product(data: Any, store: str) -> dict[int, tuple[int, int]]:
    product_of = {col: pid for pid, col in data.columns.items()}
    cols, cents, ticks = (a.tolist() for a in data.prices.observations(store))
    return {product_of[c]: (p, t) for c, p, t in zip(cols, cents, ticks, strict=True)}


async def test_due_rounds_run_for_every_company_with_dirty_stores_only(world: Any) -> None:
    from splitcart_grouper.consumers import run_due_rounds

    base = world.base_prices()
    await world.ingest("A", base, company="coles")
    await world.ingest("B", base, company="coles")
    await world.ingest("1", base, company="aldi")

    reports = await run_due_rounds(world.grouper)

    assert [(r.company, r.events) for r in reports] == [("aldi", []), ("coles", ["group.merged"])]
    assert await run_due_rounds(world.grouper) == []
