"""The hand-out policy as a pure function of what the scheduler knows about a store."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from splitcart_scheduler.service import Policy, StoreFacts, Tier, placement, plan
from splitcart_scheduler.settings import SchedulerSettings

T0 = datetime(2026, 3, 2, tzinfo=UTC)
POLICY = Policy.from_settings(SchedulerSettings(database_url="sqlite+aiosqlite://"))
DAY = timedelta(days=1)


def facts(**values: object) -> StoreFacts:
    base = StoreFacts(
        id=1,
        scrapable=True,
        company_ready=False,
        company_held=False,
        closed_at=None,
        role="alone",
        role_changed_at=None,
        discovered_at=T0,
        last_scraped_at=None,
        last_spot_at=None,
        last_completed_at=None,
        last_completed_kind=None,
        last_confirmed_at=None,
        consecutive_confirmations=0,
        rescrape_requested_at=None,
        lease_token=None,
        lease_expires_at=None,
        retry_after=None,
    )
    return replace(base, **values)  # type: ignore[arg-type]


def test_a_store_never_scraped_is_due_since_discovery() -> None:
    planned = plan(facts(), POLICY)
    assert planned is not None
    assert (planned.tier, planned.due_at, planned.kind) == (Tier.NEVER_SCRAPED, T0, "full")


def test_a_never_scraped_store_of_a_company_with_data_is_probed_with_a_spot_check() -> None:
    planned = plan(facts(company_ready=True), POLICY)
    assert planned is not None
    assert (planned.tier, planned.kind) == (Tier.PROBE, "spot")


def test_a_store_alone_with_only_probe_data_is_fully_scraped_after_the_grace() -> None:
    planned = plan(facts(company_ready=True, last_spot_at=T0), POLICY)
    assert planned is not None
    assert (planned.tier, planned.kind) == (Tier.ANCHOR_REFRESH, "full")
    assert planned.due_at == T0 + POLICY.probe_grace


def test_a_requested_rescrape_comes_before_everything() -> None:
    planned = plan(facts(rescrape_requested_at=T0 + DAY, last_scraped_at=T0), POLICY)
    assert planned is not None and planned.tier is Tier.RESCRAPE


def test_a_rescrape_is_satisfied_by_a_full_scrape_completed_after_it() -> None:
    completed = facts(
        rescrape_requested_at=T0, last_completed_at=T0 + DAY, last_completed_kind="full"
    )
    planned = plan(completed, POLICY)
    assert planned is not None and planned.tier is Tier.ANCHOR_REFRESH


def test_a_rescrape_is_satisfied_by_a_full_scrape_of_the_moment_it_was_asked_at() -> None:
    # Ingest refuses a second scrape of one moment as stale: asking again would loop.
    same = facts(rescrape_requested_at=T0, last_scraped_at=T0, role="anchor")
    planned = plan(same, POLICY)
    assert planned is not None and planned.tier is Tier.ANCHOR_REFRESH
    earlier = facts(rescrape_requested_at=T0, last_scraped_at=T0 - DAY, role="anchor")
    planned = plan(earlier, POLICY)
    assert planned is not None and planned.tier is Tier.RESCRAPE


def test_a_spot_check_does_not_satisfy_a_rescrape() -> None:
    spot = facts(rescrape_requested_at=T0, last_completed_at=T0 + DAY, last_completed_kind="spot")
    planned = plan(spot, POLICY)
    assert planned is not None and planned.tier is Tier.RESCRAPE


def test_an_anchor_is_due_a_full_scrape_after_anchor_refresh() -> None:
    planned = plan(facts(role="anchor", last_scraped_at=T0), POLICY)
    assert planned is not None
    assert (planned.tier, planned.due_at, planned.kind) == (Tier.ANCHOR_REFRESH, T0 + DAY, "full")


def test_an_anchor_holding_only_spot_data_is_due_a_full_scrape_after_the_probe_grace() -> None:
    planned = plan(facts(role="anchor", last_spot_at=T0), POLICY)
    assert planned is not None and planned.due_at == T0 + POLICY.probe_grace
    assert planned.kind == "full"


@pytest.mark.parametrize(("confirmations", "days"), [(0, 7), (1, 14), (2, 28), (3, 28), (40, 28)])
def test_a_member_check_interval_doubles_per_confirmation_up_to_the_maximum(
    confirmations: int, days: int
) -> None:
    member = facts(
        role="member",
        last_spot_at=T0,
        last_confirmed_at=T0,
        consecutive_confirmations=confirmations,
    )
    planned = plan(member, POLICY)
    assert planned is not None
    assert (planned.tier, planned.kind) == (Tier.MEMBER_CHECK, "spot")
    assert planned.due_at == T0 + timedelta(days=days)


def test_closed_or_unscrapable_stores_are_never_planned() -> None:
    assert plan(facts(closed_at=T0), POLICY) is None
    assert plan(facts(scrapable=False), POLICY) is None
    assert placement(facts(scrapable=False), POLICY) == (None, None)


def test_backoff_delays_a_store_and_doubles_up_to_the_cap() -> None:
    assert [POLICY.backoff(n) for n in (1, 2, 3)] == [
        timedelta(seconds=60),
        timedelta(seconds=120),
        timedelta(seconds=240),
    ]
    assert POLICY.backoff(40) == POLICY.backoff_cap
    assert POLICY.backoff(1, retryable=False) == POLICY.backoff_cap
    delayed = facts(retry_after=T0 + DAY)
    assert placement(delayed, POLICY) == (int(Tier.NEVER_SCRAPED), T0 + DAY)


def test_a_leased_store_is_ready_again_only_when_its_lease_expires() -> None:
    leased = facts(lease_token="t", lease_expires_at=T0 + timedelta(minutes=5))
    assert placement(leased, POLICY) == (int(Tier.NEVER_SCRAPED), T0 + timedelta(minutes=5))


def test_a_lease_never_outlives_its_maximum_lifetime() -> None:
    granted = T0
    late = T0 + timedelta(hours=3, minutes=58)
    assert POLICY.lease_expiry(granted, late) == T0 + timedelta(hours=4)


# --- refresh timing: stores alone, and the weekly rollover ------------------------------------

MONDAY = T0  # 2026-03-02 is a Monday
assert MONDAY.weekday() == 0


def timing(alone_hours: float, rollover: int | None) -> Policy:
    settings = SchedulerSettings(
        database_url="sqlite+aiosqlite://",
        alone_refresh_hours=alone_hours,
        price_rollover_weekday=rollover,
    )
    return Policy.from_settings(settings)


def test_a_store_alone_follows_alone_refresh_and_an_anchor_anchor_refresh() -> None:
    policy = timing(72, None)
    alone = plan(facts(role="alone", last_scraped_at=MONDAY), policy)
    anchor = plan(facts(role="anchor", last_scraped_at=MONDAY), policy)
    assert alone is not None and alone.due_at == MONDAY + 3 * DAY
    assert anchor is not None and anchor.due_at == MONDAY + DAY


def test_the_weekly_rollover_makes_every_refresh_due_at_its_midnight() -> None:
    policy = timing(72, 2)  # specials roll over on Wednesdays
    tuesday_noon = MONDAY + DAY + timedelta(hours=12)
    alone = plan(facts(role="alone", last_scraped_at=tuesday_noon), policy)
    assert alone is not None and alone.due_at == MONDAY + 2 * DAY  # Wednesday 00:00
    just_after = plan(facts(role="alone", last_scraped_at=MONDAY + 2 * DAY), policy)
    assert just_after is not None and just_after.due_at == MONDAY + 5 * DAY  # 72 h


def test_next_rollover_is_strictly_after_the_moment() -> None:
    from splitcart_scheduler.service import next_rollover

    wednesday = MONDAY + 2 * DAY
    assert next_rollover(MONDAY, 2) == wednesday
    assert next_rollover(wednesday, 2) == wednesday + 7 * DAY
    assert next_rollover(wednesday - timedelta(seconds=1), 2) == wednesday


def test_a_member_check_is_not_pushed_back_by_its_group_changing_anchor() -> None:
    member = facts(role="member", last_spot_at=T0, role_changed_at=T0 + 6 * DAY)
    planned = plan(member, POLICY)
    assert planned is not None
    assert (planned.tier, planned.due_at) == (Tier.MEMBER_CHECK, T0 + 7 * DAY)
