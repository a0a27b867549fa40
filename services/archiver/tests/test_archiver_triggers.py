"""Events mark exactly the archives they make stale; debounced batches rebuild exactly those
(both backends)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from splitcart_archiver import builder, models, service
from splitcart_archiver.consumers import handle
from splitcart_archiver.service import TOPICS, Archiver
from splitcart_shared.bus import PoisonMessage, Subscription, handle_once
from splitcart_shared.clock import SimulatedClock
from splitcart_shared.db import Database
from splitcart_shared.events import (
    GroupAnchorChanged,
    GroupMerged,
    OverlapEvidence,
    Payload,
    StoreEjected,
    StoreIngested,
    StoreRescrapeRequested,
    StoresDiscovered,
)

from .conftest import Seed, at, dirty, outbox_events

EVIDENCE = OverlapEvidence(
    store_a="100",
    store_b="400",
    compared=500,
    mismatches=0,
    true_overlap=1.0,
    range_overlap=0.9,
    matched=True,
)


def ingested(store_id: str) -> StoreIngested:
    return StoreIngested(
        company="coles",
        store_id=store_id,
        kind="full",
        scraped_at=at(39),
        source_event_id=uuid.uuid4(),
        products=10,
        new_products=0,
        changed_prices=3,
        delisted=0,
    )


EVENTS: dict[str, tuple[Payload, set[str]]] = {
    "anchor ingested": (ingested("100"), {"100", "200", "201"}),
    "member ingested": (ingested("200"), {"200"}),
    "group merged": (
        GroupMerged(
            company="coles",
            into_group_id="g1",
            from_group_id="g4",
            anchor_store_id="100",
            moved_store_ids=["400"],
            evidence=EVIDENCE,
        ),
        {"", "400"},
    ),
    "store ejected": (
        StoreEjected(
            company="coles", store_id="201", old_group_id="g1", new_group_id="g9", reason="mismatch"
        ),
        {"", "201"},
    ),
    "anchor changed": (
        GroupAnchorChanged(
            company="coles",
            group_id="g1",
            old_anchor_store_id="100",
            new_anchor_store_id="200",
            member_store_ids=["100", "201"],
        ),
        {"", "100", "200", "201"},
    ),
    "anchor changed, members unnamed": (
        GroupAnchorChanged(
            company="coles", group_id="g1", old_anchor_store_id="100", new_anchor_store_id="200"
        ),
        {"", "100", "200", "201"},
    ),
    "stores discovered": (
        StoresDiscovered(company="coles", swept_at=at(39), stores=[]),
        {""},
    ),
}


async def seed_groups(seed: Seed) -> None:
    """g1: anchor 100, members 200 and 201; g2: anchor 300, member 301; 400 alone."""
    await seed.company()
    for store_id in ("100", "200", "201", "300", "301", "400"):
        await seed.store(store_id)
    await seed.group("g1", "100", ["200", "201"])
    await seed.group("g2", "300", ["301"])
    await seed.group("g4", "400", [])


def subscription(db: Database) -> Subscription:
    return Subscription("archiver", TOPICS, handle, db, models.messaging)


async def deliver(db: Database, payload: Payload, envelope: Any = None) -> Any:
    from splitcart_shared.events import Envelope

    envelope = envelope or Envelope.wrap(payload, producer="test")
    await handle_once(subscription(db), envelope, payload)
    return envelope


@pytest.mark.parametrize("case", list(EVENTS))
async def test_each_event_marks_exactly_the_archives_it_makes_stale(
    case: str, seed: Seed, db: Database, archiver: Archiver
) -> None:
    payload, expected = EVENTS[case]
    await seed_groups(seed)
    await deliver(db, payload)
    assert set(await dirty(db)) == {("coles", s) for s in expected}


@pytest.mark.parametrize("case", list(EVENTS))
async def test_a_redelivered_event_marks_nothing_more(
    case: str, seed: Seed, db: Database, archiver: Archiver
) -> None:
    payload, _ = EVENTS[case]
    await seed_groups(seed)
    envelope = await deliver(db, payload)
    first = await dirty(db)
    assert not await handle_once(subscription(db), envelope, payload)
    assert await dirty(db) == first
    assert set(first.values()) == {1}


async def test_an_event_the_archiver_does_not_handle_is_poison(
    seed: Seed, db: Database, archiver: Archiver
) -> None:
    with pytest.raises(PoisonMessage):
        await deliver(db, StoreRescrapeRequested(company="coles", store_id="1", reason="manual"))
    assert await dirty(db) == {}


async def test_marks_count_up_and_the_debounce_waits_for_quiet(
    seed: Seed, db: Database, archiver: Archiver, sim_clock: SimulatedClock
) -> None:
    await seed_groups(seed)
    await deliver(db, ingested("300"))
    sim_clock.advance(timedelta(seconds=30))
    await deliver(db, ingested("300"))
    assert await dirty(db) == {("coles", "300"): 2, ("coles", "301"): 2}
    sim_clock.advance(timedelta(seconds=59))
    assert await archiver.build_pending() == []
    sim_clock.advance(timedelta(seconds=1))
    built = await archiver.build_pending()
    assert sorted(b.store_id for b in built) == ["300", "301"]
    assert await dirty(db) == {}


async def test_a_busy_store_still_rebuilds_after_the_maximum_delay(
    seed: Seed, db: Database, archiver: Archiver, sim_clock: SimulatedClock
) -> None:
    await seed_groups(seed)
    for _ in range(21):  # a mark every 30 s: never 60 s of quiet
        await deliver(db, ingested("400"))
        sim_clock.advance(timedelta(seconds=30))
    assert [b.store_id for b in await archiver.build_pending()] == ["400"]


async def test_only_the_marked_archives_are_rebuilt_and_announced(
    seed: Seed, db: Database, archiver: Archiver, sim_clock: SimulatedClock
) -> None:
    await seed_groups(seed)
    await archiver.build("coles")
    before = {e["path"] for e in await outbox_events(db, "archive.built")}
    assert len(before) == 7
    await deliver(db, EVENTS["group merged"][0])
    await deliver(db, ingested("300"))
    sim_clock.advance(timedelta(minutes=5))
    built = await archiver.build_pending()
    expected = {
        "company_data/coles.json",
        "store_data/coles/400.json",
        "store_data/coles/300.json",
        "store_data/coles/301.json",
    }
    assert {b.path for b in built} == expected
    events = await outbox_events(db, "archive.built")
    assert {e["path"] for e in events[len(before) :]} == expected
    assert await dirty(db) == {}


async def test_a_mark_arriving_during_a_build_keeps_the_store_dirty(
    seed: Seed, db: Database, archiver: Archiver, sim_clock: SimulatedClock, monkeypatch: Any
) -> None:
    await seed_groups(seed)
    await deliver(db, ingested("400"))
    sim_clock.advance(timedelta(minutes=5))
    original = archiver._record

    async def record_after_a_new_mark(target: Any, archive: Any) -> None:
        await deliver(db, ingested("400"))
        await original(target, archive)

    monkeypatch.setattr(archiver, "_record", record_after_a_new_mark)
    assert [b.store_id for b in await archiver.build_pending()] == ["400"]
    assert await dirty(db) == {("coles", "400"): 2}


async def test_a_marked_store_the_catalogue_does_not_know_is_dropped(
    seed: Seed, db: Database, archiver: Archiver, sim_clock: SimulatedClock
) -> None:
    await seed_groups(seed)
    await deliver(db, ingested("ghost"))
    sim_clock.advance(timedelta(minutes=5))
    assert await archiver.build_pending() == []
    assert await dirty(db) == {}


async def test_a_failing_archive_stays_dirty_without_holding_up_the_batch(
    seed: Seed, db: Database, archiver: Archiver, sim_clock: SimulatedClock, monkeypatch: Any
) -> None:
    await seed_groups(seed)
    await deliver(db, ingested("300"))  # marks 300 and its member 301
    sim_clock.advance(timedelta(minutes=5))
    original = builder.build_store

    async def fail_for_300(session: Any, root: Any, cache: Any, store_id: str) -> Any:
        if store_id == "300":
            raise OSError("disk full")
        return await original(session, root, cache, store_id)

    monkeypatch.setattr(service, "build_store", fail_for_300)
    assert [b.store_id for b in await archiver.build_pending()] == ["301"]
    assert await dirty(db) == {("coles", "300"): 1}


async def test_an_on_demand_build_satisfies_the_marks_it_covers(
    seed: Seed, db: Database, archiver: Archiver
) -> None:
    await seed_groups(seed)
    await deliver(db, ingested("100"))
    await archiver.build("coles")
    assert await dirty(db) == {}
