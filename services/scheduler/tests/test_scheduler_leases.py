"""Leases over HTTP: hand-out order, per-company cap, expiry, heartbeats, stale tokens, backoff."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from splitcart_scheduler.testing import Harness, make_settings, moment, record, running
from splitcart_shared.clock import SimulatedClock
from splitcart_shared.events import StoreRescrapeRequested
from sqlalchemy.engine import make_url

Open = Callable[..., AbstractAsyncContextManager[Harness]]
ROOMY = {"company_lease_cap": {"coles": 20, "woolworths": 20, "aldi": 20, "iga": 20}}


async def _lease_all(h: Harness) -> list[dict[str, Any]]:
    leases = []
    while (response := await h.lease()).status_code == 200:
        leases.append(response.json())
    assert response.status_code == 204
    return leases


async def test_hand_out_order_is_rescrape_new_stale_anchor_then_member_spot_check(
    harness_with: Open, sim_clock: SimulatedClock
) -> None:
    async with harness_with(**ROOMY) as h:
        await h.discover("coles", *(record(s) for s in ("A", "M", "R", "F")))
        for store in ("A", "M", "R"):
            await h.ingested("coles", store)
        await h.merged("coles", "g1", "A", "M")
        sim_clock.advance(timedelta(days=8))
        await h.discover("coles", record("N"))
        await h.ingested("coles", "F", at=sim_clock.now() - timedelta(hours=1))
        await h.deliver(StoreRescrapeRequested(company="coles", store_id="R", reason="tie_break"))

        leases = await _lease_all(h)

    order = [(x["store"]["store_id"], x["reason"], x["kind"]) for x in leases]
    assert order == [
        ("R", "rescrape_requested", "full"),
        ("N", "new_store_probe", "spot"),
        ("A", "anchor_refresh", "full"),
        ("M", "member_check", "spot"),
    ]


async def test_new_stores_get_a_full_scrape_until_their_company_has_one_then_a_probe(
    harness_with: Open, sim_clock: SimulatedClock
) -> None:
    async with harness_with(**ROOMY) as h:
        await h.discover("aldi", record("G1"), record("G2"))
        first = await h.lease_ok()
        assert (first["reason"], first["kind"]) == ("never_scraped", "full")
        await h.ingested("aldi", first["store"]["store_id"])
        second = await h.lease_ok()
    assert (second["reason"], second["kind"]) == ("new_store_probe", "spot")


async def test_probing_stops_for_a_company_whose_scraped_stores_stay_alone(
    harness_with: Open, sim_clock: SimulatedClock
) -> None:
    async with harness_with(**ROOMY, probe_trial_stores=2) as h:
        await h.discover("iga", record("I1"), record("I2"), record("I3"))
        await h.ingested("iga", "I1")
        probe = await h.lease_ok()
        await h.ingested("iga", "I2")  # two scraped, neither a member: stop probing
        last = await h.lease_ok()
    assert probe["kind"] == "spot"
    assert (last["store"]["store_id"], last["reason"], last["kind"]) == (
        "I3",
        "never_scraped",
        "full",
    )


async def test_new_stores_wait_while_the_probes_out_complete_the_trial(
    harness_with: Open, sim_clock: SimulatedClock
) -> None:
    async with harness_with(**ROOMY, probe_trial_stores=2) as h:
        await h.discover("iga", *(record(f"I{i}") for i in range(1, 6)))
        await h.ingested("iga", "I1")
        probe = await h.lease_ok()
        probed = probe["store"]["store_id"]
        await h.ingested("iga", probed, kind="spot")  # one decided, one probe out: the trial
        held = await h.lease()
        sim_clock.advance(timedelta(hours=2, minutes=1))  # grouping left the probe alone
        late = await h.lease_ok()
        await h.ingested("iga", probed)
        after = await h.lease_ok()
    assert probe["kind"] == "spot" and held.status_code == 204
    assert (late["store"]["store_id"], late["kind"]) == (probed, "full")
    assert (after["reason"], after["kind"]) == ("never_scraped", "full")  # IGA: no probes


async def test_a_held_company_probes_again_once_its_trial_probes_become_members(
    harness_with: Open, sim_clock: SimulatedClock
) -> None:
    async with harness_with(**ROOMY, probe_trial_stores=2) as h:
        await h.discover("aldi", *(record(f"G{i}") for i in range(1, 6)))
        await h.ingested("aldi", "G1")
        probed = (await h.lease_ok())["store"]["store_id"]
        await h.ingested("aldi", probed, kind="spot")
        held = await h.lease()
        await h.merged("aldi", "g1", "G1", probed)
        after = await h.lease_ok()
    assert held.status_code == 204
    assert (after["reason"], after["kind"]) == ("new_store_probe", "spot")


async def test_a_probed_store_left_alone_gets_a_full_scrape_after_the_grace(
    harness_with: Open, sim_clock: SimulatedClock
) -> None:
    async with harness_with(**ROOMY) as h:
        await h.discover("aldi", record("G1"), record("G2"))
        await h.ingested("aldi", "G1")
        await h.ingested("aldi", "G2", kind="spot")
        sim_clock.advance(timedelta(hours=1))
        assert (await h.lease()).status_code == 204  # grouping may still place it
        sim_clock.advance(timedelta(hours=1, minutes=1))
        late = await h.lease_ok()
    assert (late["store"]["store_id"], late["kind"]) == ("G2", "full")


async def test_a_probed_store_that_joins_a_group_is_not_fully_scraped(
    harness_with: Open, sim_clock: SimulatedClock
) -> None:
    async with harness_with(**ROOMY) as h:
        await h.discover("aldi", record("G1"), record("G2"))
        await h.ingested("aldi", "G1")
        await h.ingested("aldi", "G2", kind="spot")
        await h.merged("aldi", "g1", "G1", "G2")
        sim_clock.advance(timedelta(hours=3))
        response = await h.lease()
    assert response.status_code == 204


async def test_within_a_tier_the_longest_waiting_store_comes_first(
    harness_with: Open, sim_clock: SimulatedClock
) -> None:
    async with harness_with(**ROOMY) as h:
        await h.discover("aldi", record("G2"), record("G1"))
        await h.ingested("aldi", "G2")
        sim_clock.advance(timedelta(hours=1))
        await h.ingested("aldi", "G1")
        sim_clock.advance(timedelta(days=2))
        leases = await _lease_all(h)
    assert [x["store"]["store_id"] for x in leases] == ["G2", "G1"]


async def test_a_completed_store_is_not_handed_out_again_before_it_is_due(h: Harness) -> None:
    await h.discover("coles", record("COL:1"))
    lease = await h.lease_ok()
    assert (await h.complete(lease["token"])).status_code == 200
    assert (await h.lease()).status_code == 204


async def test_a_company_never_holds_more_leases_than_its_cap(
    harness_with: Open, sim_clock: SimulatedClock
) -> None:
    caps = {"company_lease_cap": {"coles": 2, "aldi": 5}}
    async with harness_with(**caps) as h:
        await h.discover("coles", *(record(f"COL:{i}") for i in range(5)))
        await h.discover("aldi", record("G1"))
        leases = await _lease_all(h)
        companies = sorted(x["store"]["company"] for x in leases)
        assert companies == ["aldi", "coles", "coles"]

        coles = next(x for x in leases if x["store"]["company"] == "coles")
        assert (await h.complete(coles["token"])).status_code == 200
        nxt = await h.lease_ok()
        assert nxt["store"]["company"] == "coles"
        stats = (await h.client.get("/v1/stats")).json()
    live = {row["company"]: (row["live"], row["cap"]) for row in stats["leases"]}
    assert live["coles"] == (2, 2)


async def test_a_worker_can_ask_for_certain_companies_only(h: Harness) -> None:
    await h.discover("coles", record("COL:1"))
    await h.discover("iga", record("52511", retailer_store_id="32600"))
    lease = await h.lease_ok(companies=["iga"])
    assert lease["store"] == {
        "company": "iga",
        "store_id": "52511",
        "retailer_store_id": "32600",
        "name": "Store 52511",
        "state": "NSW",
    }
    assert (await h.lease(companies=["iga", "aldi"])).status_code == 204


async def test_an_expired_lease_is_reclaimed_and_its_old_token_goes_stale(
    h: Harness, sim_clock: SimulatedClock
) -> None:
    await h.discover("coles", record("COL:1"))
    first = await h.lease_ok()
    assert (await h.lease()).status_code == 204
    sim_clock.advance(timedelta(seconds=301))

    second = await h.lease_ok()

    assert second["store"]["store_id"] == "COL:1"
    assert second["token"] != first["token"]
    assert (await h.heartbeat(first["token"])).status_code == 409
    assert (await h.complete(first["token"])).status_code == 409
    assert (await h.complete(second["token"])).status_code == 200


async def test_a_reclaimed_lease_gives_its_slot_back_to_the_company(
    harness_with: Open, sim_clock: SimulatedClock
) -> None:
    async with harness_with(company_lease_cap={"coles": 1}) as h:
        await h.discover("coles", record("COL:1"), record("COL:2"))
        first = await h.lease_ok()
        assert (await h.lease()).status_code == 204
        sim_clock.advance(timedelta(seconds=301))
        # The leased store closes meanwhile: only a reclaim can free the company's slot.
        others = [record(s) for s in ("COL:1", "COL:2") if s != first["store"]["store_id"]]
        await h.discover("coles", *others, complete=True)

        second = await h.lease_ok()

    assert second["store"]["store_id"] != first["store"]["store_id"]


async def test_heartbeats_extend_a_lease_but_never_beyond_four_hours(
    h: Harness, sim_clock: SimulatedClock
) -> None:
    await h.discover("coles", record("COL:1"))
    lease = await h.lease_ok()
    granted = sim_clock.now()
    expiries = []
    for _ in range(4 * 60 // 4):
        sim_clock.advance(timedelta(minutes=4))
        response = await h.heartbeat(lease["token"])
        if response.status_code != 200:
            break
        expiries.append(response.json()["expires_at"])
    assert response.status_code == 409
    assert moment(expiries[0]) == granted + timedelta(minutes=9)
    assert sim_clock.now() >= granted + timedelta(hours=4)
    assert moment(expiries[-1]) == granted + timedelta(hours=4)


async def test_a_stale_token_answers_409_and_changes_nothing(h: Harness) -> None:
    await h.discover("coles", record("COL:1"))
    lease = await h.lease_ok()
    assert (await h.complete(lease["token"])).status_code == 200
    before = await h.store("coles", "COL:1")

    answers = [
        await h.complete(lease["token"]),
        await h.heartbeat(lease["token"]),
        await h.fail(lease["token"]),
        await h.complete("no-such-token"),
    ]

    assert {r.status_code for r in answers} == {409}
    assert {r.json()["error"]["code"] for r in answers} == {"stale_lease"}
    assert await h.store("coles", "COL:1") == before


async def test_failed_scrapes_back_off_exponentially(h: Harness, sim_clock: SimulatedClock) -> None:
    await h.discover("coles", record("COL:1"))
    waits = []
    for _ in range(3):
        lease = await h.lease_ok()
        failed = (await h.fail(lease["token"], "HTTP 503")).json()
        assert failed["outcome"] == "failed"
        assert (await h.lease()).status_code == 204
        wait = moment(failed["retry_after"]) - sim_clock.now()
        waits.append(wait)
        sim_clock.advance(wait - timedelta(seconds=1))
        assert (await h.lease()).status_code == 204
        sim_clock.advance(timedelta(seconds=1))
    assert waits == [timedelta(seconds=60), timedelta(seconds=120), timedelta(seconds=240)]
    view = await h.store("coles", "COL:1")
    assert (view["attempts"], view["last_error"]) == (3, "HTTP 503")


async def test_a_success_resets_the_backoff(h: Harness, sim_clock: SimulatedClock) -> None:
    await h.discover("coles", record("COL:1"))
    await h.fail((await h.lease_ok())["token"])
    sim_clock.advance(timedelta(minutes=2))
    assert (await h.complete((await h.lease_ok())["token"])).status_code == 200
    view = await h.store("coles", "COL:1")
    assert (view["attempts"], view["retry_after"], view["last_error"]) == (0, None, None)


async def test_a_permanent_failure_waits_the_longest_backoff(
    h: Harness, sim_clock: SimulatedClock
) -> None:
    await h.discover("coles", record("COL:1"))
    failed = (await h.fail((await h.lease_ok())["token"], retryable=False)).json()
    assert moment(failed["retry_after"]) - sim_clock.now() == timedelta(hours=6)


async def test_stores_without_an_online_shop_are_never_handed_out(h: Harness) -> None:
    await h.discover("iga", record("1", scrapable=False))
    assert (await h.lease()).status_code == 204


async def test_a_store_missing_from_a_complete_sweep_is_closed_until_listed_again(
    h: Harness, sim_clock: SimulatedClock
) -> None:
    await h.discover("aldi", record("G1"), record("G2"), complete=True)
    sim_clock.advance(timedelta(minutes=1))
    await h.discover("aldi", record("G2"), complete=True)
    leases = await _lease_all(h)
    assert [x["store"]["store_id"] for x in leases] == ["G2"]
    assert (await h.store("aldi", "G1"))["closed_at"] is not None

    sim_clock.advance(timedelta(minutes=1))
    await h.discover("aldi", record("G1"), record("G2"), complete=True)
    assert (await h.lease_ok())["store"]["store_id"] == "G1"


async def test_each_spot_check_of_a_member_advances_its_rotation(
    h: Harness, sim_clock: SimulatedClock
) -> None:
    await h.discover("woolworths", record("1001"), record("1002"))
    await h.ingested("woolworths", "1001")
    await h.ingested("woolworths", "1002")
    await h.merged("woolworths", "g", "1001", "1002")
    rotations = []
    for _ in range(3):
        sim_clock.advance(timedelta(days=8))
        leases = await _lease_all(h)
        spot = next(x for x in leases if x["kind"] == "spot")
        rotations.append(spot["spot_rotation"])
        for lease in leases:
            assert (await h.complete(lease["token"])).status_code == 200
    assert rotations == [0, 1, 2]


async def test_a_rescrape_asked_for_during_a_lease_is_not_met_by_that_lease(
    h: Harness, sim_clock: SimulatedClock
) -> None:
    await h.discover("coles", record("COL:1"))
    lease = await h.lease_ok()
    sim_clock.advance(timedelta(minutes=1))
    await h.deliver(StoreRescrapeRequested(company="coles", store_id="COL:1", reason="tie_break"))
    assert (await h.complete(lease["token"])).status_code == 200
    again = await h.lease_ok()
    assert (again["store"]["store_id"], again["reason"]) == ("COL:1", "rescrape_requested")


async def test_a_lowered_cap_takes_effect_as_running_leases_end(
    harness_with: Open, sim_clock: SimulatedClock
) -> None:
    async with harness_with(company_lease_cap={"coles": 2}) as h:
        await h.discover("coles", *(record(f"COL:{i}") for i in range(4)))
        held = [await h.lease_ok(), await h.lease_ok()]
    async with harness_with(company_lease_cap={"coles": 1}) as h:
        assert (await h.lease()).status_code == 204
        for lease in held:
            assert (await h.complete(lease["token"])).status_code == 200
        assert (await h.lease()).status_code == 200
        assert (await h.lease()).status_code == 204


# --- bad input and auth ---------------------------------------------------------------------


async def test_lease_requests_with_bad_input_are_refused_with_reasons(h: Harness) -> None:
    bodies: list[Any] = [
        {},
        {"worker_id": ""},
        {"worker_id": "w", "companies": []},
        {"worker_id": "w", "companies": ["tesco"]},
        {"worker_id": "w", "surprise": 1},
        "not json",
    ]
    for body in bodies:
        response = await h.client.post("/v1/leases", json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "invalid_request"


async def test_fail_with_bad_input_is_refused_and_keeps_the_lease(h: Harness) -> None:
    await h.discover("coles", record("COL:1"))
    lease = await h.lease_ok()
    for body in ({}, {"error": ""}, {"error": "x", "retryable": "maybe"}, {"error": "x" * 2001}):
        response = await h.client.post(f"/v1/leases/{lease['token']}/fail", json=body)
        assert response.status_code == 422, body
    assert (await h.heartbeat(lease["token"])).status_code == 200


async def test_mutations_need_a_valid_bearer_token(h: Harness) -> None:
    await h.discover("coles", record("COL:1"))
    paths = [
        "/v1/leases",
        "/v1/leases/t/heartbeat",
        "/v1/leases/t/complete",
        "/v1/leases/t/fail",
        "/v1/stores/coles/COL%3A1/rescrape",
    ]
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong-token-0123456789"}):
        for path in paths:
            response = await h.client.post(path, json={"worker_id": "w"}, headers=headers)
            assert response.status_code == 401, path
    assert (await h.client.get("/v1/queue", headers={"Authorization": ""})).status_code == 200
    assert (await h.lease()).status_code == 200


async def test_other_requests_near_the_lease_routes_are_answered_by_the_app(h: Harness) -> None:
    assert (await h.client.get("/v1/leases")).status_code == 405
    assert (await h.client.post("/v1/leases/t/renew")).status_code == 404
    assert (await h.client.post("/v1/leases//complete")).status_code == 404
    answer = await h.client.post("/v1/leases/t/complete/extra")
    assert answer.json()["error"]["code"] == "http_error"


async def test_probing_goes_on_while_probed_stores_become_members(
    harness_with: Open, sim_clock: SimulatedClock
) -> None:
    async with harness_with(**ROOMY, probe_trial_stores=2) as h:
        stores = ("G1", "G2", "G3", "G4", "G5")
        await h.discover("aldi", *(record(s) for s in stores))
        await h.ingested("aldi", "G1")
        await h.ingested("aldi", "G4")  # another zone's first store, fully scraped
        for probed in ("G2", "G3"):  # probes that grouping placed: members on spot data
            await h.ingested("aldi", probed, kind="spot")
            await h.merged("aldi", "g1", "G1", probed)
        last = await h.lease_ok()
    # Four decided (two anchors with full scrapes, two members), half of them members.
    assert (last["store"]["store_id"], last["reason"], last["kind"]) == (
        "G5",
        "new_store_probe",
        "spot",
    )


async def test_a_lease_ending_while_an_event_changes_its_store_is_placed_from_the_new_facts(
    postgres_database: str, sim_clock: SimulatedClock
) -> None:
    # On Postgres ending a lease reads the store, places it, then writes only if the store is
    # still the version read. Here grouping makes the store a member in between: the write
    # waits for that transaction, misses, and the store is read again and placed as a member.
    dsn = make_url(postgres_database).set(drivername="postgresql").render_as_string(False)
    async with running(make_settings(postgres_database)) as h:
        await h.discover("coles", record("A"))
        token = (await h.lease_ok())["token"]
        grouping = await asyncpg.connect(dsn)
        try:
            async with grouping.transaction():
                await grouping.execute(
                    "UPDATE scheduling.stores SET role = 'member', group_id = 'g1', "
                    "role_changed_at = $1 WHERE store_id = 'A'",
                    sim_clock.now(),
                )
                completing = asyncio.create_task(h.complete(token))
                await asyncio.wait_for(_lock_waits(grouping, 1), timeout=10)
            done = await completing
        finally:
            await grouping.close()
        store = await h.store("coles", "A")
    assert done.status_code == 200
    assert (store["role"], store["lease"], store["next"]["reason"]) == (
        "member",
        None,
        "member_check",
    )
    # Placed as a member, checked a week after its scrape (as a store alone: a day after).
    ready_at = datetime.fromisoformat(store["next"]["ready_at"])
    assert ready_at == sim_clock.now() + timedelta(days=7)


async def _lock_waits(conn: asyncpg.Connection, count: int) -> None:
    """Until ``count`` other sessions of this database wait for a row lock."""
    query = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    while True:
        if await conn.fetchval(query) >= count:
            return
        await asyncio.sleep(0.01)  # Postgres tells no one when a session starts waiting
