"""The HTTP API: filters, lookups, 404s, bad input and the price export."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from splitcart_ingest.app import create_app
from splitcart_ingest.schemas import dollars
from splitcart_ingest.settings import IngestSettings


@pytest_asyncio.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(IngestSettings(database_url=database_url, auth_disabled=True))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as http:
            yield http


async def _catalog(harness: Any) -> None:
    """Coles: two Victorian stores (one Liquorland) and a closed one; Aldi in Sydney."""
    s, p = harness.make_store, harness.make_product
    coles = [
        s("COL:1", name="Coles Richmond", latitude=-37.8230, longitude=145.0016),
        s(
            "LQ:2",
            name="Liquorland Carlton",
            division="Liquorland",
            latitude=-37.80,
            longitude=144.97,
        ),
        s("COL:3", name="Coles Geelong", latitude=-38.15, longitude=144.36),
    ]
    await harness.discover("coles", coles)
    await harness.discover("coles", coles[:2])
    aldi = [s("G1", name="Aldi Bondi", state="NSW", latitude=-33.89, longitude=151.27)]
    await harness.discover("aldi", aldi)
    await harness.scrape(
        [
            p("A", 350, name="Full Cream Milk", brand="Dairy Farmers", barcode="9300001"),
            p("B", 1299, name="Coffee Beans", was_price_cents=1500, on_special=True),
            p("C", 5, name="Plastic Bag", brand=None),
        ],
        store_id="COL:1",
    )
    await harness.scrape(
        [p("A", 360, name="Full Cream Milk", brand="Dairy Farmers")], store_id="LQ:2"
    )


async def _store_pk(client: httpx.AsyncClient, company: str, store_id: str) -> int:
    response = await client.get(f"/v1/stores/by-chain/{company}/{store_id}")
    assert response.status_code == 200, response.text
    return int(response.json()["id"])


def test_dollars_are_formatted_exactly_from_cents() -> None:
    assert [dollars(c) for c in (0, 5, 350, 1299, 100000, None)] == [
        "0.00",
        "0.05",
        "3.50",
        "12.99",
        "1000.00",
        None,
    ]


async def test_stores_filter_by_company_division_state_and_status(
    harness: Any, client: httpx.AsyncClient
) -> None:
    await _catalog(harness)

    async def ids(**params: Any) -> list[str]:
        response = await client.get("/v1/stores", params=params)
        assert response.status_code == 200, response.text
        return [s["store_id"] for s in response.json()["items"]]

    assert await ids() == ["COL:1", "LQ:2", "G1"]
    assert await ids(company="coles") == ["COL:1", "LQ:2"]
    assert await ids(company="coles", status="all") == ["COL:1", "LQ:2", "COL:3"]
    assert await ids(status="closed") == ["COL:3"]
    assert await ids(division="Liquorland") == ["LQ:2"]
    assert await ids(state="nsw") == ["G1"]
    assert await ids(store_id="G1") == ["G1"]
    assert await ids(limit=1, offset=1) == ["LQ:2"]


async def test_stores_near_a_point_come_nearest_first_within_the_radius(
    harness: Any, client: httpx.AsyncClient
) -> None:
    await _catalog(harness)
    params = {"lat": -37.81, "lng": 144.96, "radius_km": 10, "status": "all"}
    items = (await client.get("/v1/stores", params=params)).json()["items"]
    assert [s["store_id"] for s in items] == ["LQ:2", "COL:1"]
    assert items[0]["distance_km"] < items[1]["distance_km"] < 10


async def test_a_store_is_found_by_surrogate_id_and_by_chain_id(
    harness: Any, client: httpx.AsyncClient
) -> None:
    await _catalog(harness)
    pk = await _store_pk(client, "coles", "COL:1")
    store = (await client.get(f"/v1/stores/{pk}")).json()
    assert store["store_id"] == "COL:1" and store["division"] == "Supermarkets"
    assert store["status"] == "open" and store["last_scraped_at"] is not None


@pytest.mark.parametrize(
    "path",
    [
        "/v1/stores/999999",
        "/v1/stores/by-chain/coles/NOPE",
        "/v1/stores/999999/prices",
        "/v1/stores/by-chain/aldi/NOPE/prices",
        "/v1/products/999999",
    ],
)
async def test_unknown_ids_are_404(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/stores?lat=-37.8", 400),
        ("/v1/stores?company=safeway", 422),
        ("/v1/stores?lat=-95&lng=0", 422),
        ("/v1/stores?lat=-37&lng=145&radius_km=0", 422),
        ("/v1/stores?status=gone", 422),
        ("/v1/stores/abc", 422),
        ("/v1/stores?limit=0", 422),
        ("/v1/products?limit=5000", 422),
        ("/v1/prices/export?cursor=%25%25%25", 400),
        ("/v1/prices/export?cursor=bm9wZQ", 400),
        ("/v1/prices/export?limit=0", 422),
        ("/v1/prices/export?limit=100000000", 400),
        ("/v1/prices/export?scraped_since=yesterday", 422),
    ],
)
async def test_invalid_requests_get_a_specific_4xx(
    client: httpx.AsyncClient, path: str, status: int
) -> None:
    response = await client.get(path)
    assert response.status_code == status, response.text
    assert response.json()["error"]["message"]


async def test_products_filter_by_text_company_and_barcode(
    harness: Any, client: httpx.AsyncClient
) -> None:
    await _catalog(harness)

    async def skus(**params: Any) -> list[str]:
        response = await client.get("/v1/products", params=params)
        assert response.status_code == 200, response.text
        return [p["sku"] for p in response.json()["items"]]

    assert await skus() == ["A", "B", "C"]
    assert await skus(q="milk") == ["A"]
    assert await skus(q="dairy CREAM") == ["A"]
    assert await skus(q="100%") == []
    assert await skus(company="aldi") == []
    assert await skus(barcode="9300001") == ["A"]
    assert await skus(missing_barcode=True) == ["B", "C"]
    assert await skus(missing_barcode=False) == ["A"]


async def test_a_product_shows_its_current_price_at_every_store_in_dollars(
    harness: Any, client: httpx.AsyncClient
) -> None:
    await _catalog(harness)
    (milk,) = (await client.get("/v1/products", params={"q": "milk"})).json()["items"]
    detail = (await client.get(f"/v1/products/{milk['id']}")).json()
    assert detail["category_path"] == ["Pantry", "Snacks"]
    prices = {p["store_id"]: p for p in detail["prices"]}
    assert {k: v["price"] for k, v in prices.items()} == {"COL:1": "3.50", "LQ:2": "3.60"}
    assert prices["COL:1"]["unit_price"] == "0.70"
    assert prices["COL:1"]["store_name"] == "Coles Richmond"


async def test_store_prices_are_its_direct_observations(
    harness: Any, client: httpx.AsyncClient
) -> None:
    await _catalog(harness)
    milk = harness.make_product("A", 350, name="Full Cream Milk", brand="Dairy Farmers")
    await harness.scrape([milk], store_id="COL:1", expected_count=None)
    pk = await _store_pk(client, "coles", "COL:1")
    page = (await client.get(f"/v1/stores/{pk}/prices")).json()
    assert [(i["sku"], i["price"]) for i in page["items"]] == [("A", "3.50")]
    everything = (await client.get(f"/v1/stores/{pk}/prices?include_delisted=true")).json()
    coffee = next(i for i in everything["items"] if i["sku"] == "B")
    assert coffee["delisted"] and coffee["price"] == "12.99" and coffee["was_price"] == "15.00"
    by_chain = (await client.get("/v1/stores/by-chain/coles/COL:1/prices")).json()
    assert by_chain["items"] == page["items"]


async def _export(
    client: httpx.AsyncClient, **params: Any
) -> tuple[list[dict[str, Any]], str | None]:
    response = await client.get("/v1/prices/export", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [orjson.loads(line) for line in response.content.splitlines() if line]
    return lines, response.headers.get("x-next-cursor")


async def test_export_streams_every_current_price_as_ndjson(
    harness: Any, client: httpx.AsyncClient
) -> None:
    await _catalog(harness)
    rows, next_cursor = await _export(client)
    assert [(r["store_id"], r["sku"], r["price"]) for r in rows] == [
        ("COL:1", "A", "3.50"),
        ("COL:1", "B", "12.99"),
        ("COL:1", "C", "0.05"),
        ("LQ:2", "A", "3.60"),
    ]
    assert next_cursor is None
    pk = await _store_pk(client, "coles", "LQ:2")
    assert [r["sku"] for r in (await _export(client, store=pk))[0]] == ["A"]
    assert (await _export(client, company="aldi"))[0] == []


async def test_export_filters_by_scraped_since(harness: Any, client: httpx.AsyncClient) -> None:
    await _catalog(harness)
    later = harness.clock + timedelta(minutes=30)
    fresh = harness.make_product("Z", 100, name="Fresh")
    await harness.scrape([fresh], store_id="COL:1", kind="spot", expected_count=None)
    rows, _ = await _export(client, scraped_since=later.isoformat())
    assert [r["sku"] for r in rows] == ["Z"]


async def test_export_resumes_from_any_line_cursor(harness: Any, client: httpx.AsyncClient) -> None:
    await _catalog(harness)
    everything, _ = await _export(client)
    rest, _ = await _export(client, cursor=everything[1]["cursor"])
    assert rest == everything[2:]


async def test_export_pagination_is_stable_under_concurrent_inserts(
    harness: Any, client: httpx.AsyncClient
) -> None:
    p = harness.make_product
    await _catalog(harness)
    await harness.discover("aldi", [harness.make_store("G1"), harness.make_store("G2")])
    await harness.scrape([p(f"X{i}", 100 + i) for i in range(6)], store_id="G1", company="aldi")
    initial = {(r["store"], r["product_id"]) for r in (await _export(client))[0]}
    seen: list[tuple[int, int]] = []
    cursor: str | None = None
    for page_number in range(50):
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        rows, cursor = await _export(client, **params)
        seen += [(r["store"], r["product_id"]) for r in rows]
        # Data changes underneath the export: new prices at existing and new stores, repricing.
        spot = {"company": "aldi", "kind": "spot", "expected_count": None}
        repriced = [p(f"X{i}", 200 + page_number) for i in range(6)]
        await harness.scrape([*repriced, p(f"N{page_number}", 1)], store_id="G1", **spot)
        await harness.scrape([p(f"M{page_number}", 1)], store_id="G2", **spot)
        if cursor is None:
            break
    assert cursor is None, "the export must end"
    assert len(seen) == len(set(seen)), "no row may come twice"
    assert initial <= set(seen), "no row that existed at the start may be skipped"


async def test_openapi_documents_lookup_by_chain_store_id(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "/v1/stores/by-chain/{company}/{store_id}" in paths
    assert {"/v1/stores", "/v1/stores/{store}", "/v1/stores/{store}/prices"} <= set(paths)
    assert {"/v1/products", "/v1/products/{product}", "/v1/prices/export"} <= set(paths)
