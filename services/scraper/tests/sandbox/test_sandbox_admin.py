"""Ground truth, the clock and the counters under /admin."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from splitcart_scraper.sandbox import World, create_app


@pytest.fixture
async def own_client() -> AsyncIterator[httpx.AsyncClient]:
    """A world of its own: these tests move the clock."""
    app = create_app(3, store_scale=0.03, product_scale=0.03)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox"
    ) as client:
        yield client


async def test_clock_starts_on_a_fixed_date_and_only_moves_forward(
    own_client: httpx.AsyncClient,
) -> None:
    start = (await own_client.get("/admin/clock")).json()
    assert start["date"] == "2025-09-01" and start["day"] == 0
    assert (await own_client.post("/admin/clock", json={"advance_hours": 30})).json()["day"] == 1
    assert (await own_client.post("/admin/clock", json={"advance_days": 2})).json()["day"] == 3
    assert (await own_client.post("/admin/clock", json={"day": 9})).json()["date"] == "2025-09-10"
    moved = await own_client.post("/admin/clock", json={"set": "2025-09-20T06:00:00Z"})
    assert moved.json()["day"] == 19
    assert (await own_client.post("/admin/clock", json={"day": 2})).status_code == 400


async def test_served_prices_follow_the_clock_and_match_the_truth(
    own_client: httpx.AsyncClient,
) -> None:
    stores = (await own_client.get("/admin/stores", params={"chain": "aldi"})).json()["stores"]
    store = next(s for s in stores if s["open"] and s["close_day"] is None)["store_id"]
    tree = (await own_client.get("/aldi/v2/product-category-tree")).json()["data"]
    for _ in range(3):
        truth = (
            await own_client.get(f"/admin/truth/aldi/{store}", params={"format": "columns"})
        ).json()
        price = dict(zip(truth["sku"], truth["price_cents"], strict=True))
        for node in tree:
            body = (
                await own_client.get(
                    "/aldi/v3/product-search",
                    params={
                        "categoryKey": node["key"],
                        "limit": 30,
                        "offset": 0,
                        "servicePoint": store,
                    },
                )
            ).json()
            for product in body["data"]:
                assert product["price"]["amount"] == price[product["sku"]]
        await own_client.post("/admin/clock", json={"advance_days": 4})


async def test_truth_formats_agree_and_single_lookups_match(
    client: httpx.AsyncClient, world: World
) -> None:
    store = world.chains["woolworths"].stores[2].store_id
    path = f"/admin/truth/woolworths/{store}"
    rows = (await client.get(path, params={"day": 5})).json()["rows"]
    lines = (await client.get(path, params={"day": 5, "format": "ndjson"})).text.splitlines()
    columns = (await client.get(path, params={"day": 5, "format": "columns"})).json()
    assert [orjson.loads(line) for line in lines] == rows
    assert [r["sku"] for r in rows] == columns["sku"]
    assert set(rows[0]) == {
        "sku",
        "price_cents",
        "was_price_cents",
        "on_special",
        "available",
        "listed",
    }
    special = next(r for r in rows if r["on_special"])
    assert special["was_price_cents"] > special["price_cents"]
    single = (
        await client.get(
            "/admin/price",
            params={"chain": "woolworths", "store": store, "sku": special["sku"], "day": 5},
        )
    ).json()
    assert {k: single[k] for k in special} == special


async def test_stores_endpoint_reports_each_stores_true_zone(
    client: httpx.AsyncClient, world: World
) -> None:
    body = (await client.get("/admin/stores", params={"chain": "coles", "day": 60})).json()
    rogue = next(s for s in body["stores"] if s["rogue_day"] is not None)
    assert rogue["zone"] == rogue["zone_after"] != rogue["zone_before"]
    early = (await client.get("/admin/stores", params={"chain": "coles", "day": 0})).json()
    again = next(s for s in early["stores"] if s["store_id"] == rogue["store_id"])
    assert again["zone"] == rogue["zone_before"]


async def test_counters_count_requests_per_chain_and_endpoint_and_reset(
    shopper: Any, client: httpx.AsyncClient
) -> None:
    await client.post("/admin/counters/reset")
    await shopper.coles_gql("GetShopProductsMenu", {})
    await shopper.coles_browse("bakery", 1, None)
    await shopper.coles_browse("bakery", 2, None)
    counters = (await client.get("/admin/counters")).json()
    assert counters["requests"]["coles"] == {"graphql:GetShopProductsMenu": 1, "browse": 2}
    assert counters["pages"] == 2
    await client.post("/admin/counters/reset")
    assert (await client.get("/admin/counters")).json()["requests"] == {}


async def test_unknown_stores_chains_and_knobs_are_refused(client: httpx.AsyncClient) -> None:
    assert (await client.get("/admin/truth/coles/COL:0")).status_code == 404
    assert (await client.get("/admin/truth/kmart/1")).status_code == 404
    assert (await client.put("/admin/faults", json={"gremlins": {"rate": 1}})).status_code == 400
