"""The grouper's HTTP API on the running app (both backends): groups, stores, effective
prices, comparisons and the full regroup, including bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest_asyncio
from asgi_lifespan import LifespanManager
from splitcart_grouper.app import create_app
from splitcart_grouper.service import run_round
from splitcart_shared import testing
from splitcart_shared.clock import SimulatedClock, clock
from splitcart_shared.events import Envelope, StoreIngested
from splitcart_shared.settings import ApiToken

TOKEN = "grouper-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Api:
    client: httpx.AsyncClient
    runtime: Any
    world: Any

    async def round(self, company: str = "coles") -> Any:
        return await run_round(self.runtime, company)


@pytest_asyncio.fixture
async def api(world: Any, database_url: str, sim_clock: SimulatedClock) -> AsyncIterator[Api]:
    settings = world.grouper.settings.model_copy(
        update={"api_tokens": {"tester": ApiToken(token=TOKEN)}}
    )
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://grouper") as client:
            yield Api(client, app.state.runtime, world)


async def planted(api: Api) -> Any:
    """A and B price alike (B lists only the first 150 products), C differs on 30."""
    w = api.world
    base = w.base_prices()
    base[0], base[1] = 1234, 5  # money formatting: 12.34 and 0.05
    await w.ingest("A", base)
    await w.ingest("B", base, only=range(150))
    await w.ingest("C", w.variant(base, 30, offset=10))
    await api.round()
    return base


async def test_groups_list_anchor_size_and_freshness(api: Api) -> None:
    await planted(api)

    response = await api.client.get("/v1/groups", params={"company": "coles"})

    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 2
    top = body["groups"][0]
    assert (top["anchor_store_id"], top["size"], top["anchor_fresh"]) == ("A", 2, True)
    assert top["anchor_last_scraped_at"] is not None


async def test_group_detail_lists_members_with_their_last_evidence(api: Api) -> None:
    await planted(api)
    listed = (await api.client.get("/v1/groups", params={"company": "coles"})).json()

    response = await api.client.get(f"/v1/groups/{listed['groups'][0]['id']}")

    assert response.status_code == 200
    members = response.json()["members"]
    assert [(m["store_id"], m["role"]) for m in members] == [("A", "anchor"), ("B", "member")]
    evidence = members[1]["last_evidence"]
    assert (evidence["decision"], evidence["compared"], evidence["matched"]) == (
        "merged",
        150,
        True,
    )


async def test_store_group_names_its_anchor(api: Api) -> None:
    await planted(api)

    response = await api.client.get("/v1/stores/coles/B/group")

    assert response.status_code == 200
    body = response.json()
    assert (body["anchor_store_id"], body["role"], body["size"]) == ("A", "member", 2)


async def test_unknown_group_store_and_job_are_404(api: Api) -> None:
    await planted(api)
    for path in (
        "/v1/groups/nope",
        "/v1/stores/coles/ZZZ/group",
        "/v1/stores/coles/ZZZ/prices",
        "/v1/regroup/nope",
    ):
        response = await api.client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"


async def test_unknown_company_in_a_path_or_query_is_422(api: Api) -> None:
    for path in ("/v1/stores/walmart/1/group", "/v1/groups?company=walmart"):
        assert (await api.client.get(path)).status_code == 422


async def test_member_prices_are_its_own_where_it_has_them_else_its_anchors(api: Api) -> None:
    base = await planted(api)

    response = await api.client.get("/v1/stores/coles/B/prices")

    assert response.status_code == 200
    body = response.json()
    assert (body["anchor_store_id"], body["direct"], body["inferred"], body["total"]) == (
        "A",
        150,
        50,
        200,
    )
    items = body["prices"]
    assert {i["source"] for i in items[:150]} == {"direct_scrape"}
    assert {(i["source"], i["from_store_id"]) for i in items[150:]} == {("inferred_group", "A")}
    assert (items[0]["price"], items[0]["price_cents"]) == ("12.34", 1234)
    assert (items[1]["price"], items[1]["price_cents"]) == ("0.05", 5)
    assert items[199]["price_cents"] == int(base[199])


async def test_an_anchors_fresher_observation_wins_over_a_members_older_own_price(
    api: Api, sim_clock: SimulatedClock
) -> None:
    from datetime import timedelta

    base = await planted(api)
    sim_clock.advance(timedelta(hours=24))
    moved = base.copy()
    moved[5] += 100
    await api.world.ingest("A", moved)

    body = (await api.client.get("/v1/stores/coles/B/prices")).json()

    assert (body["direct"], body["inferred"]) == (0, 200)
    assert body["prices"][5]["price_cents"] == int(base[5]) + 100


async def test_anchor_and_lone_store_prices_are_all_direct(api: Api) -> None:
    await planted(api)
    for store in ("A", "C"):
        body = (await api.client.get(f"/v1/stores/coles/{store}/prices")).json()
        assert (body["direct"], body["inferred"]) == (200, 0)


async def test_prices_page_through_the_effective_set(api: Api) -> None:
    await planted(api)

    body = (
        await api.client.get("/v1/stores/coles/B/prices", params={"limit": 60, "offset": 120})
    ).json()

    assert len(body["prices"]) == 60
    assert body["next_offset"] == 180
    assert [i["source"] for i in body["prices"]].count("inferred_group") == 30


async def test_stale_prices_are_neither_direct_nor_inferred(
    api: Api, sim_clock: SimulatedClock
) -> None:
    from datetime import timedelta

    await planted(api)
    sim_clock.advance(timedelta(hours=73))

    body = (await api.client.get("/v1/stores/coles/B/prices")).json()

    assert body["total"] == 0


async def test_compare_reports_true_overlap_and_the_mismatching_products(api: Api) -> None:
    await planted(api)

    response = await api.client.get("/v1/compare", params={"company": "coles", "a": "A", "b": "C"})

    assert response.status_code == 200
    body = response.json()
    assert (body["compared"], body["mismatches"], body["matched"]) == (200, 30, False)
    assert body["true_overlap"] == 170 / 200
    odd = body["mismatching"]
    assert len(odd) == 30
    assert odd[0]["price_b_cents"] - odd[0]["price_a_cents"] == 20
    assert (
        odd[0]["price_a"] == f"{odd[0]['price_a_cents'] // 100}.{odd[0]['price_a_cents'] % 100:02d}"
    )


async def test_compare_of_matching_stores_counts_the_smaller_catalogue(api: Api) -> None:
    await planted(api)

    body = (
        await api.client.get("/v1/compare", params={"company": "coles", "a": "A", "b": "B"})
    ).json()

    assert (body["compared"], body["mismatches"], body["range_overlap"], body["matched"]) == (
        150,
        0,
        1.0,
        True,
    )


async def test_compare_bad_input(api: Api) -> None:
    await planted(api)
    same = await api.client.get("/v1/compare", params={"company": "coles", "a": "A", "b": "A"})
    unknown = await api.client.get("/v1/compare", params={"company": "coles", "a": "A", "b": "Z"})
    missing = await api.client.get("/v1/compare", params={"company": "coles", "a": "A"})
    assert (same.status_code, unknown.status_code, missing.status_code) == (400, 404, 422)


# --- regroup ------------------------------------------------------------------------------


async def test_regroup_needs_a_token(api: Api) -> None:
    response = await api.client.post("/v1/regroup", params={"company": "coles"})
    assert response.status_code == 401
    wrong = await api.client.post(
        "/v1/regroup", params={"company": "coles"}, headers={"Authorization": "Bearer " + "x" * 30}
    )
    assert wrong.status_code == 401


async def test_regroup_of_an_unknown_company_is_refused(api: Api) -> None:
    await planted(api)
    invalid = await api.client.post("/v1/regroup", params={"company": "walmart"}, headers=AUTH)
    unseen = await api.client.post("/v1/regroup", params={"company": "aldi"}, headers=AUTH)
    missing = await api.client.post("/v1/regroup", headers=AUTH)
    assert (invalid.status_code, unseen.status_code, missing.status_code) == (422, 404, 422)


async def test_regroup_runs_in_the_background_and_reports_progress(api: Api) -> None:
    await planted(api)
    await api.world.catalog.store("coles", "NEW")

    started = await api.client.post("/v1/regroup", params={"company": "coles"}, headers=AUTH)

    assert started.status_code == 202
    job_id = started.json()["id"]

    async def finished() -> Any:
        body = (await api.client.get(f"/v1/regroup/{job_id}")).json()
        return body if body["status"] in ("done", "failed") else None

    job = await testing.wait_for(finished, timeout=30)
    assert (job["status"], job["phase"], job["progress"]) == ("done", "done", 1.0)
    assert (job["stores"], job["groups"]) == (4, 3)
    assert await api.world.partition() == [{"A", "B"}, {"C"}, {"NEW"}]
    # The groups that were already right keep their ids, so nothing is announced for them.
    announced = await api.world.events("group.anchor_changed")
    assert [e.payload["new_anchor_store_id"] for e in announced] == ["NEW"]


async def test_regroup_splits_a_group_whose_prices_drifted_apart(
    api: Api, sim_clock: SimulatedClock
) -> None:
    from datetime import timedelta

    base = await planted(api)
    sim_clock.advance(timedelta(hours=1))
    # B drifted in the catalogue without any health check noticing yet.
    await api.world.catalog.prices("coles", "B", api.world.variant(base, 40), sim_clock.now())

    started = await api.client.post("/v1/regroup", params={"company": "coles"}, headers=AUTH)

    job_id = started.json()["id"]

    async def finished() -> Any:
        body = (await api.client.get(f"/v1/regroup/{job_id}")).json()
        return body if body["status"] in ("done", "failed") else None

    assert (await testing.wait_for(finished, timeout=30))["status"] == "done"
    assert await api.world.partition() == [{"A"}, {"B"}, {"C"}]
    announced = await api.world.events("group.anchor_changed")
    assert sorted(
        (e.payload["old_anchor_store_id"] or "-", e.payload["new_anchor_store_id"])
        for e in announced
    ) == [("-", "B"), ("A", "A")]
    rows = await api.world.history("B")
    assert [(r["role"], r["anchor_store_id"]) for r in rows] == [("member", "A"), ("anchor", "B")]


async def test_a_second_regroup_while_one_runs_is_a_conflict(api: Api) -> None:
    await planted(api)
    grouper = api.runtime.state["grouper"]
    async with grouper.lock("coles"):  # holds the job before it can finish
        first = await api.client.post("/v1/regroup", params={"company": "coles"}, headers=AUTH)
        second = await api.client.post("/v1/regroup", params={"company": "coles"}, headers=AUTH)
    assert (first.status_code, second.status_code) == (202, 409)
    assert second.json()["error"]["details"]["job_id"] == first.json()["id"]


@pytest_asyncio.fixture
async def live(world: Any, sim_clock: SimulatedClock) -> AsyncIterator[Api]:
    """The app with its round worker on, rounds every few milliseconds."""
    settings = world.grouper.settings.model_copy(
        update={"grouper_worker_enabled": True, "grouper_round_interval_seconds": 0.02}
    )
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://grouper") as client:
            yield Api(client, app.state.runtime, world)


async def test_the_worker_runs_rounds_for_ingested_stores(live: Api) -> None:
    base = live.world.base_prices()
    await live.world.catalog.prices("coles", "A", base, _now())
    await live.world.catalog.prices("coles", "B", base, _now())
    for store in ("A", "B"):
        await live.runtime.bus.publish(Envelope.wrap(_ingested(store), producer="ingest"))

    async def grouped() -> Any:
        return await live.world.partition() == [{"A", "B"}]

    await testing.wait_for(grouped, timeout=30)
    assert [e.event_type for e in await live.world.events()] == ["group.merged"]


def _now() -> Any:
    return clock.now()


def _ingested(store_id: str) -> StoreIngested:
    return StoreIngested(
        company="coles",
        store_id=store_id,
        kind="full",
        scraped_at=clock.now(),
        source_event_id="00000000-0000-0000-0000-000000000001",  # type: ignore[arg-type]
        products=200,
        new_products=200,
        changed_prices=0,
        delisted=0,
    )


async def test_stats_show_the_work_left_until_rounds_caught_up(api: Api) -> None:
    await api.world.ingest("A", api.world.base_prices())
    waiting = (await api.client.get("/v1/stats")).json()
    await api.round()
    caught_up = (await api.client.get("/v1/stats")).json()

    assert waiting["companies"] == {"coles": {"groups": 0, "stores": 0, "dirty": 1}}
    assert caught_up["companies"] == {"coles": {"groups": 1, "stores": 1, "dirty": 0}}


async def test_a_product_the_anchor_cannot_sell_today_is_inferred_at_its_last_price(
    api: Api, sim_clock: SimulatedClock
) -> None:
    from datetime import timedelta

    from splitcart_ingest import models as catalog
    from sqlalchemy import insert, update

    base = await planted(api)
    w = api.world
    pk, product = w.catalog.stores["coles", "A"], w.catalog.products["coles"][170]
    earlier = clock.now() - timedelta(hours=30)
    async with w.catalog.db.transaction() as s:
        cp = catalog.current_prices
        await s.execute(
            update(cp)
            .where(cp.c.store_pk == pk, cp.c.product_id == product)
            .values(price_cents=None, available=False)
        )
        await s.execute(
            insert(catalog.price_history).values(
                store_pk=pk,
                product_id=product,
                price_cents=int(base[170]),
                on_special=False,
                available=True,
                valid_from=earlier,
                last_seen=earlier + timedelta(hours=20),
            )
        )

    body = (await api.client.get("/v1/stores/coles/B/prices")).json()

    row = next(p for p in body["prices"] if p["product_id"] == product)
    assert (row["price_cents"], row["source"], row["from_store_id"]) == (
        int(base[170]),
        "inferred_group",
        "A",
    )
    assert body["total"] == 200


async def _anchor_prices_one_line_itself(
    api: Api, sim_clock: SimulatedClock, witnesses: int
) -> Any:
    """Four stores price alike; then the anchor re-prices product 7 itself and
    ``witnesses`` members are seen again at the group's price. Returns (base, local price,
    anchor, the member never seen again, the members seen again)."""
    from datetime import timedelta

    from splitcart_ingest import models as catalog
    from sqlalchemy import insert

    w = api.world
    base = w.base_prices()
    stores = ["A", "B", "D", "E"]
    for store in stores:
        await w.ingest(store, base)
    await api.round()
    anchor = (await api.client.get("/v1/stores/coles/B/group")).json()["anchor_store_id"]
    members = [s for s in stores if s != anchor]
    first = clock.now()
    sim_clock.advance(timedelta(hours=1))
    local = base.copy()
    local[7] += 50
    await w.ingest(anchor, local)
    pk, product = w.catalog.stores["coles", anchor], w.catalog.products["coles"][7]
    async with w.catalog.db.transaction() as s:
        for cents, since in ((base[7], first), (local[7], clock.now())):
            await s.execute(
                insert(catalog.price_history).values(
                    store_pk=pk,
                    product_id=product,
                    price_cents=int(cents),
                    on_special=False,
                    available=True,
                    valid_from=since,
                    last_seen=since,
                )
            )
    sim_clock.advance(timedelta(hours=1))
    seen_again = members[:witnesses]
    for store in seen_again:
        await w.ingest(store, base)
    return base, local, anchor, members[-1], seen_again


async def test_members_take_the_groups_price_where_the_anchor_prices_a_line_itself(
    api: Api, sim_clock: SimulatedClock
) -> None:
    base, _, anchor, member, seen_again = await _anchor_prices_one_line_itself(api, sim_clock, 2)

    body = (await api.client.get(f"/v1/stores/coles/{member}/prices")).json()

    assert body["anchor_store_id"] == anchor
    line = body["prices"][7]
    assert (line["price_cents"], line["source"]) == (int(base[7]), "inferred_group")
    assert line["from_store_id"] == min(seen_again)  # the latest member seen at that price
    other = body["prices"][8]
    assert (other["price_cents"], other["from_store_id"]) == (int(base[8]), anchor)


async def test_one_member_against_the_anchor_does_not_overrule_it(
    api: Api, sim_clock: SimulatedClock
) -> None:
    _, local, anchor, member, _ = await _anchor_prices_one_line_itself(api, sim_clock, 1)

    body = (await api.client.get(f"/v1/stores/coles/{member}/prices")).json()

    line = body["prices"][7]
    assert (line["price_cents"], line["from_store_id"]) == (int(local[7]), anchor)
