"""Every fault knob produces its fault; knobs are off by default, seeded and per chain."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from splitcart_scraper.sandbox import FaultConfig, Knob, World, create_app
from splitcart_scraper.sandbox.faults import ConnectionDropped


def _app(world: World, **knobs: Knob) -> Any:
    return create_app(
        world.seed,
        world=world,
        faults=FaultConfig(knobs=dict(knobs), retry_after_seconds=7, slow_seconds=0.0),
    )


@pytest.fixture
async def faulty(world: World) -> AsyncIterator[Any]:
    """Build a client over an app with the given knobs."""
    clients: list[httpx.AsyncClient] = []

    def make(**knobs: Knob) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=_app(world, **knobs)), base_url="http://sandbox"
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


def _aldi(world: World) -> tuple[str, str]:
    store = world.chains["aldi"].default_store.store_id
    return store, world.chains["aldi"].catalogue.top_nodes()[0].ext_id


async def _search(client: httpx.AsyncClient, world: World) -> httpx.Response:
    store, key = _aldi(world)
    return await client.get(
        "/aldi/v3/product-search",
        params={"categoryKey": key, "limit": 30, "offset": 0, "servicePoint": store},
    )


async def test_no_faults_by_default(client: httpx.AsyncClient, world: World) -> None:
    for _ in range(20):
        response = await _search(client, world)
        assert response.status_code == 200 and response.json()["data"]


async def test_rate_limit_answers_429_with_retry_after(faulty: Any, world: World) -> None:
    response = await _search(faulty(rate_limit=Knob(1.0, 1)), world)
    assert response.status_code == 429 and response.headers["retry-after"] == "7"


async def test_server_error_answers_5xx(faulty: Any, world: World) -> None:
    client = faulty(server_error=Knob(1.0, 1))
    codes = {(await _search(client, world)).status_code for _ in range(12)}
    assert codes <= {500, 502, 503} and codes


async def test_slow_responses_are_delayed_but_complete(faulty: Any, world: World) -> None:
    client = faulty(slow=Knob(1.0, 1))
    assert (await _search(client, world)).status_code == 200
    assert (await client.get("/admin/counters")).json()["faults"] == {"slow": 1}


async def test_reset_drops_the_connection_mid_response(faulty: Any, world: World) -> None:
    with pytest.raises(ConnectionDropped):
        await _search(faulty(reset=Knob(1.0, 1)), world)


async def test_malformed_answers_200_with_broken_json(faulty: Any, world: World) -> None:
    response = await _search(faulty(malformed=Knob(1.0, 1)), world)
    assert response.status_code == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)


async def test_truncated_page_misses_rows_while_totals_stay(faulty: Any, world: World) -> None:
    response = await _search(faulty(truncated=Knob(1.0, 1)), world)
    body = response.json()
    total = body["meta"]["pagination"]["totalCount"]
    assert 0 < len(body["data"]) < min(30, total)


async def test_store_mismatch_is_visible_in_each_chains_served_store_field(
    faulty: Any, world: World, shopper: Any
) -> None:
    client = faulty(store_mismatch=Knob(1.0, 1))
    store, _ = _aldi(world)
    body = (await _search(client, world)).json()
    assert body["meta"]["servicePoint"] != store
    wool = faulty(store_mismatch=Knob(1.0, 1))
    session = (await wool.get("/woolworths/")).cookies["wow-session"]
    node = world.chains["woolworths"].catalogue.top_nodes()[0].ext_id
    page = (
        await wool.post(
            "/woolworths/apis/ui/browse/category",
            headers={"cookie": f"wow-session={session}"},
            json={"categoryId": node, "pageNumber": 1, "pageSize": 36},
        )
    ).json()
    assert {b["Products"][0]["FulfilmentStoreId"] for b in page["Bundles"]} != {1101}
    coles = faulty(store_mismatch=Knob(1.0, 1))
    coles_shopper = type(shopper)(coles)
    default = world.chains["coles"].default_store.number
    page = (await coles_shopper.coles_browse("bakery", 1, default)).json()
    assert int(page["pageProps"]["initStoreId"]) != default


async def test_knobs_limited_to_a_chain_leave_the_others_alone(faulty: Any, world: World) -> None:
    client = faulty(rate_limit=Knob(1.0, 1, chains=["coles"]))
    assert (await _search(client, world)).status_code == 200
    assert (await client.get("/coles/")).status_code == 429


async def test_the_same_fault_seed_faults_the_same_requests(faulty: Any, world: World) -> None:
    async def pattern(seed: int) -> list[int]:
        client = faulty(server_error=Knob(0.3, seed))
        return [(await _search(client, world)).status_code for _ in range(40)]

    first, again, other = await pattern(5), await pattern(5), await pattern(6)
    assert first == again and first != other
    assert 0 < sum(code != 200 for code in first) < 40


async def test_faults_can_be_switched_at_run_time(client: httpx.AsyncClient, world: World) -> None:
    await client.put("/admin/faults", json={"rate_limit": {"rate": 1.0, "seed": 2}})
    assert (await _search(client, world)).status_code == 429
    await client.put("/admin/faults", json={"rate_limit": {"rate": 0.0}})
    assert (await _search(client, world)).status_code == 200
    assert (await client.get("/admin/clock")).status_code == 200, "admin is never faulted"
