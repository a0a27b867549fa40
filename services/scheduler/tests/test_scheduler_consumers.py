"""Every consumed event is applied once, however often it arrives, and in any order."""

from __future__ import annotations

import uuid
from datetime import timedelta

from splitcart_scheduler.testing import Harness, moment, record
from splitcart_shared.clock import SimulatedClock
from splitcart_shared.events import (
    Envelope,
    GroupAnchorChanged,
    GroupMemberConfirmed,
    ScrapeRejected,
    StoreEjected,
    StoreRescrapeRequested,
)


async def _assert_redelivery_changes_nothing(
    h: Harness, envelope: Envelope, *stores: tuple[str, str]
) -> None:
    before = [await h.store(c, s) for c, s in stores]
    assert await h.redeliver(envelope) is False
    await h.replay_as_new(envelope)
    assert [await h.store(c, s) for c, s in stores] == before


async def test_discovered_stores_are_learned_once(h: Harness) -> None:
    envelope = await h.discover(
        "iga",
        record("52511", retailer_store_id="32600", name="IGA Kew"),
        record("9", scrapable=False),
    )
    view = await h.store("iga", "52511")
    assert (view["name"], view["retailer_store_id"], view["role"]) == ("IGA Kew", "32600", "alone")
    assert (view["next"]["reason"], view["next"]["kind"]) == ("never_scraped", "full")
    assert (await h.store("iga", "9"))["next"] is None
    await _assert_redelivery_changes_nothing(h, envelope, ("iga", "52511"), ("iga", "9"))


async def test_an_older_sweep_arriving_late_does_not_undo_a_newer_one(
    h: Harness, sim_clock: SimulatedClock
) -> None:
    old_time = sim_clock.now()
    sim_clock.advance(timedelta(hours=1))
    await h.discover("coles", record("COL:1", name="New name"), complete=True)
    await h.discover("coles", record("COL:2"), swept_at=old_time, complete=True)
    view = await h.store("coles", "COL:1")
    assert (view["name"], view["closed_at"]) == ("New name", None)


async def test_an_ingested_scrape_records_the_scrape_once(
    h: Harness, sim_clock: SimulatedClock
) -> None:
    await h.discover("coles", record("COL:1"))
    await h.deliver(
        StoreRescrapeRequested(company="coles", store_id="COL:1", reason="stale_anchor")
    )
    sim_clock.advance(timedelta(minutes=5))
    envelope = await h.ingested("coles", "COL:1")
    view = await h.store("coles", "COL:1")
    assert view["last_scraped_at"] is not None
    assert (view["rescrape_requested_at"], view["next"]["reason"]) == (None, "anchor_refresh")
    await _assert_redelivery_changes_nothing(h, envelope, ("coles", "COL:1"))


async def test_a_spot_check_ingest_does_not_count_as_a_full_scrape(h: Harness) -> None:
    await h.discover("coles", record("COL:1"))
    await h.ingested("coles", "COL:1", kind="spot")
    view = await h.store("coles", "COL:1")
    assert view["last_scraped_at"] is None and view["last_spot_at"] is not None


async def test_a_rejected_scrape_counts_as_one_failure_with_backoff(
    h: Harness, sim_clock: SimulatedClock
) -> None:
    await h.discover("coles", record("COL:1"))
    lease = await h.lease_ok()
    assert (await h.complete(lease["token"])).status_code == 200
    envelope = await h.deliver(
        ScrapeRejected(
            company="coles",
            store_id="COL:1",
            lease_token=lease["token"],
            source_event_id=uuid.uuid4(),
            reason="served_store_mismatch",
            detail="served COL:2",
        )
    )
    view = await h.store("coles", "COL:1")
    assert (view["attempts"], view["last_error"]) == (1, "served_store_mismatch: served COL:2")
    assert view["next"]["reason"] == "never_scraped"
    assert (await h.lease()).status_code == 204
    await _assert_redelivery_changes_nothing(h, envelope, ("coles", "COL:1"))
    sim_clock.advance(timedelta(seconds=60))
    assert (await h.lease_ok())["store"]["store_id"] == "COL:1"


async def test_a_merge_makes_an_anchor_and_members_once(h: Harness) -> None:
    await h.discover("coles", record("A"), record("B"), record("C"))
    envelope = await h.merged("coles", "g1", "A", "A", "B", "C")
    roles = [(await h.store("coles", s))["role"] for s in ("A", "B", "C")]
    assert roles == ["anchor", "member", "member"]
    assert {(await h.store("coles", s))["group_id"] for s in "ABC"} == {"g1"}
    await _assert_redelivery_changes_nothing(h, envelope, ("coles", "A"), ("coles", "B"))


async def test_an_ejected_store_stands_alone_and_a_lonely_anchor_too(h: Harness) -> None:
    await h.discover("coles", record("A"), record("B"))
    await h.merged("coles", "g1", "A", "B")
    envelope = await h.deliver(
        StoreEjected(
            company="coles", store_id="B", old_group_id="g1", new_group_id="g2", reason="mismatch"
        )
    )
    b, a = await h.store("coles", "B"), await h.store("coles", "A")
    assert (b["role"], b["group_id"], a["role"]) == ("alone", "g2", "alone")
    await _assert_redelivery_changes_nothing(h, envelope, ("coles", "A"), ("coles", "B"))


async def test_an_old_group_event_arriving_late_does_not_undo_a_newer_one(
    h: Harness, sim_clock: SimulatedClock
) -> None:
    await h.discover("coles", record("A"), record("B"))
    merged = await h.merged("coles", "g1", "A", "B")
    sim_clock.advance(timedelta(minutes=1))
    await h.deliver(
        StoreEjected(
            company="coles", store_id="B", old_group_id="g1", new_group_id="g2", reason="mismatch"
        )
    )
    await h.replay_as_new(merged)
    assert (await h.store("coles", "B"))["role"] == "alone"


async def test_an_anchor_change_passes_the_title_once(h: Harness) -> None:
    await h.discover("coles", record("A"), record("B"), record("C"))
    await h.merged("coles", "g1", "A", "B", "C")
    envelope = await h.deliver(
        GroupAnchorChanged(
            company="coles",
            group_id="g1",
            old_anchor_store_id="A",
            new_anchor_store_id="B",
            member_store_ids=["A", "C"],
        )
    )
    roles = [(await h.store("coles", s))["role"] for s in ("A", "B", "C")]
    assert roles == ["member", "anchor", "member"]
    await _assert_redelivery_changes_nothing(h, envelope, ("coles", "A"), ("coles", "B"))


async def test_a_confirmed_member_is_checked_less_often(
    h: Harness, sim_clock: SimulatedClock
) -> None:
    await h.discover("coles", record("A"), record("B"))
    await h.ingested("coles", "A")
    await h.ingested("coles", "B")
    await h.merged("coles", "g1", "A", "B")
    confirmed_at = sim_clock.now()
    envelope = await h.deliver(_confirmation("B", 2))
    view = await h.store("coles", "B")
    assert view["consecutive_confirmations"] == 2
    assert moment(view["next"]["due_at"]) == confirmed_at + timedelta(days=28)
    await _assert_redelivery_changes_nothing(h, envelope, ("coles", "B"))


async def test_an_older_confirmation_arriving_late_is_ignored(
    h: Harness, sim_clock: SimulatedClock
) -> None:
    await h.discover("coles", record("A"), record("B"))
    await h.merged("coles", "g1", "A", "B")
    early = sim_clock.now()
    sim_clock.advance(timedelta(hours=1))
    await h.deliver(_confirmation("B", 3))
    await h.deliver(_confirmation("B", 2), occurred_at=early)
    assert (await h.store("coles", "B"))["consecutive_confirmations"] == 3


async def test_a_rescrape_request_is_recorded_once_and_keeps_its_place(
    h: Harness, sim_clock: SimulatedClock
) -> None:
    await h.discover("coles", record("A"))
    await h.ingested("coles", "A")
    requested_at = sim_clock.now()
    envelope = await h.deliver(
        StoreRescrapeRequested(company="coles", store_id="A", reason="rehoming")
    )
    sim_clock.advance(timedelta(minutes=1))
    await h.deliver(StoreRescrapeRequested(company="coles", store_id="A", reason="tie_break"))
    view = await h.store("coles", "A")
    assert (view["rescrape_reason"], moment(view["rescrape_requested_at"])) == (
        "rehoming",
        requested_at,
    )
    await _assert_redelivery_changes_nothing(h, envelope, ("coles", "A"))


async def test_events_about_unknown_stores_are_ignored(h: Harness) -> None:
    await h.ingested("coles", "nowhere")
    await h.deliver(_confirmation("nowhere", 1))
    assert (await h.client.get("/v1/stores/coles/nowhere")).status_code == 404


def _confirmation(store_id: str, n: int) -> GroupMemberConfirmed:
    return GroupMemberConfirmed(
        company="coles",
        group_id="g1",
        store_id=store_id,
        anchor_store_id="A",
        consecutive_confirmations=n,
    )
