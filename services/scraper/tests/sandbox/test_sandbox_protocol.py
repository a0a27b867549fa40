"""The chains' quirks: sessions, store choice, pagination rules, served-store signals."""

from __future__ import annotations

from typing import Any

from splitcart_scraper.sandbox import World


def _open_store(world: World, chain: str, division: str | None = None) -> Any:
    day = world.today()
    default = world.chains[chain].default_store
    return next(
        s
        for s in world.chains[chain].stores
        if s.is_open(day)
        and s is not default
        and (division is None or s.division == division)
        and (chain != "iga" or s.retailer_store_id)
    )


# --- Woolworths -------------------------------------------------------------------------
async def test_woolworths_apis_refuse_requests_without_the_warm_up_cookie(shopper: Any) -> None:
    response = await shopper.wow("GET", "/apis/ui/PiesCategoriesWithSpecials", {})
    assert response.status_code == 403 and "text/html" in response.headers["content-type"]


async def test_woolworths_anonymous_sessions_are_served_store_1101(
    shopper: Any, world: World
) -> None:
    cookies = {"wow-session": await shopper.wow_session()}
    wanted = _open_store(world, "woolworths")
    refused = await shopper.wow(
        "POST",
        "/apis/ui/Fulfilment",
        cookies,
        json={"fulfilmentMethod": "Pickup", "fulfilmentStoreId": wanted.number},
    )
    assert refused.status_code == 401
    node = world.chains["woolworths"].catalogue.top_nodes()[0].ext_id
    page = (await shopper.wow_browse(cookies, node, 1)).json()
    assert {b["Products"][0]["FulfilmentStoreId"] for b in page["Bundles"]} == {1101}


async def test_woolworths_logged_in_session_chooses_and_keeps_its_store(
    shopper: Any, world: World
) -> None:
    cookies = {"wow-session": await shopper.wow_session(), "w-auth": "imported"}
    wanted = _open_store(world, "woolworths")
    chosen = await shopper.wow(
        "POST",
        "/apis/ui/Fulfilment",
        cookies,
        json={"fulfilmentMethod": "Pickup", "fulfilmentStoreId": wanted.number},
    )
    assert chosen.json()["IsSuccessful"] is True
    node = world.chains["woolworths"].catalogue.top_nodes()[1].ext_id
    page = (await shopper.wow_browse(cookies, node, 1)).json()
    assert {b["Products"][0]["FulfilmentStoreId"] for b in page["Bundles"]} == {wanted.number}
    other = {"wow-session": await shopper.wow_session(), "w-auth": "imported"}
    page = (await shopper.wow_browse(other, node, 1)).json()
    assert {b["Products"][0]["FulfilmentStoreId"] for b in page["Bundles"]} == {1101}


async def test_woolworths_paging_by_total_yields_every_listed_product_once(
    shopper: Any, world: World
) -> None:
    cookies = {"wow-session": await shopper.wow_session()}
    node = world.chains["woolworths"].catalogue.top_nodes()[2]
    first = (await shopper.wow_browse(cookies, node.ext_id, 1)).json()
    total = first["TotalRecordCount"]
    rows: list[dict[str, Any]] = []
    for page in range(1, -(-total // 36) + 1):
        body = (await shopper.wow_browse(cookies, node.ext_id, page, size=100)).json()
        real = [b["Products"][0] for b in body["Bundles"] if not b["Products"][0]["IsSponsoredAd"]]
        assert len(real) == min(36, total - (page - 1) * 36)
        rows += real
    codes = [r["Stockcode"] for r in rows]
    assert len(codes) == len(set(codes)) == total
    store = world.chains["woolworths"].default_store
    assert set(codes) == set(
        world.chains["woolworths"]
        .catalogue.sku[world.listed(store, node.index, world.today())]
        .tolist()
    )


async def test_woolworths_serves_only_sponsored_rows_past_the_last_page(
    shopper: Any, world: World
) -> None:
    cookies = {"wow-session": await shopper.wow_session()}
    node = world.chains["woolworths"].catalogue.top_nodes()[0].ext_id
    body = (await shopper.wow_browse(cookies, node, 999)).json()
    assert body["Bundles"], "the API still answers with rows"
    assert all(b["Products"][0]["IsSponsoredAd"] for b in body["Bundles"])
    assert body["TotalRecordCount"] > 0


async def test_woolworths_lists_marketplace_items_and_metro_stores(
    shopper: Any, world: World
) -> None:
    cat = world.chains["woolworths"].catalogue
    assert cat.is_market.any()
    cookies = {"wow-session": await shopper.wow_session()}
    metro = (
        await shopper.wow(
            "GET",
            "/apis/ui/StoreLocator/Stores",
            cookies,
            params={"Max": 10000, "Division": "METRO", "Facility": "", "postcode": "*"},
        )
    ).json()["Stores"]
    assert metro and all(s["Division"] == "METRO" and s["Name"].endswith("(Metro)") for s in metro)


# --- Coles ------------------------------------------------------------------------------
async def test_coles_without_incapsula_cookies_gets_a_challenge_page(shopper: Any) -> None:
    for path in ("/", f"/_next/data/{shopper.build}/en/browse/bakery.json"):
        response = await shopper.coles("GET", path, blocked=True)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert "_Incapsula_Resource" in response.text


async def test_coles_home_page_carries_build_id_and_subscription_key(shopper: Any) -> None:
    page = (await shopper.coles("GET", "/")).text
    assert f'"buildId":"{shopper.build}"' in page
    assert "window.__RUNTIME_CONFIG__" in page and shopper.key in page


async def test_coles_wrong_build_id_is_404_and_graphql_needs_the_key(shopper: Any) -> None:
    response = await shopper.coles("GET", "/_next/data/old-build/en/browse/bakery.json")
    assert response.status_code == 404
    keyless = await shopper.client.post(
        "/coles/api/graphql",
        headers=shopper.cookie_header({"visid_incap_1": "a", "incap_ses_1_1": "b"}),
        json={"operationName": "GetShopProductsMenu", "variables": {}},
    )
    assert keyless.status_code == 401


async def test_coles_store_cookie_is_confirmed_in_init_store_id(shopper: Any, world: World) -> None:
    store = _open_store(world, "coles", "COL")
    node = world.chains["coles"].catalogue.top_nodes()[0]
    page = (await shopper.coles_browse(node.slug, 1, store.number)).json()["pageProps"]
    assert int(page["initStoreId"]) == store.number
    results = page["searchResults"]
    products = [r for r in results["results"] if r["_type"] == "PRODUCT"]
    assert results["pageSize"] == 48 and len(products) == min(48, results["noOfResults"])
    for product in products:
        pricing = product["pricing"]
        assert (pricing["was"] == 0) == (pricing.get("promotionType") is None)


async def test_coles_pages_mix_in_ad_tiles_not_counted_in_results(
    shopper: Any, world: World
) -> None:
    node = world.chains["coles"].catalogue.top_nodes()[3]
    results = (await shopper.coles_browse(node.slug, 1, None)).json()["pageProps"]["searchResults"]
    kinds = [r["_type"] for r in results["results"]]
    assert "SINGLE_TILE" in kinds
    assert kinds.count("PRODUCT") == min(48, results["noOfResults"])


async def test_coles_locator_lists_liquorland_as_a_second_division(shopper: Any) -> None:
    body = (
        await shopper.coles_gql(
            "GetStores",
            {
                "latitude": -33.87,
                "longitude": 151.2,
                "brandIds": ["COL", "LQR"],
                "numberOfStores": 500,
            },
        )
    ).json()
    brands = {r["store"]["brand"]["id"] for r in body["data"]["stores"]["results"]}
    ids = [r["store"]["id"] for r in body["data"]["stores"]["results"]]
    assert brands == {"COL", "LQR"} and all(i.split(":")[1].isdigit() for i in ids)


# --- Aldi -------------------------------------------------------------------------------
async def test_aldi_answers_400_past_the_last_page_and_shows_the_served_store(
    shopper: Any, world: World
) -> None:
    store = _open_store(world, "aldi")
    key = world.chains["aldi"].catalogue.top_nodes()[0].ext_id
    first = await shopper.aldi_search(store.store_id, key, 0, limit=50)
    body = first.json()
    total = body["meta"]["pagination"]["totalCount"]
    assert body["meta"]["pagination"]["limit"] == 30 and len(body["data"]) == min(30, total)
    assert body["meta"]["servicePoint"] == store.store_id
    assert first.headers["x-aldi-service-point"] == store.store_id
    last = await shopper.aldi_search(store.store_id, key, (total - 1) // 30 * 30)
    assert last.status_code == 200
    beyond = await shopper.aldi_search(store.store_id, key, -(-total // 30) * 30)
    assert beyond.status_code == 400


async def test_aldi_service_points_return_only_stores_within_the_radius(shopper: Any) -> None:
    near = (
        await shopper.client.get(
            "/aldi/v2/service-points", params={"latitude": -33.87, "longitude": 151.2}
        )
    ).json()["data"]
    assert near and all(float(s["distance"].split()[0]) <= 100 for s in near)
    ocean = (
        await shopper.client.get(
            "/aldi/v2/service-points", params={"latitude": -40.0, "longitude": 160.0}
        )
    ).json()["data"]
    assert ocean == []


# --- IGA --------------------------------------------------------------------------------
async def test_iga_repeats_its_last_page_instead_of_an_empty_one(
    shopper: Any, world: World
) -> None:
    store = _open_store(world, "iga")
    node = world.chains["iga"].catalogue.top_nodes()[0].ext_id
    first = (await shopper.iga_search(store.retailer_store_id, node, 0)).json()
    total = first["total"]
    last_skip = (total - 1) // 36 * 36
    last = (await shopper.iga_search(store.retailer_store_id, node, last_skip)).json()
    beyond = (await shopper.iga_search(store.retailer_store_id, node, last_skip + 36)).json()
    assert beyond["items"] == last["items"] and beyond["total"] == total


async def test_iga_needs_the_shopping_mode_header_and_store_cookie(
    shopper: Any, world: World
) -> None:
    store = _open_store(world, "iga")
    rid = store.retailer_store_id
    path = f"/iga/api/storefront/stores/{rid}/categoryHierarchy"
    assert (await shopper.client.get(path)).status_code == 400
    wrong = {**shopper.iga_headers(rid), **shopper.cookie_header({"iga-shop.retailerStoreId": "1"})}
    assert (await shopper.client.get(path, headers=wrong)).status_code == 400
    assert (await shopper.client.get(path, headers=shopper.iga_headers(rid))).status_code == 200


async def test_iga_locator_lists_stores_without_a_shop_and_unknown_coordinates(
    shopper: Any, world: World
) -> None:
    records = {r["storeId"]: r for loc in range(1, 641) for r in await shopper.iga_locator(loc)}
    day = world.today()
    expected = {s.store_id for s in world.chains["iga"].stores if s.is_open(day)}
    assert set(records) == expected, "a sweep of every locality finds every open store"
    assert any(r["retailerStoreId"] == "" for r in records.values())
    assert any(r["latitude"] == "0" for r in records.values())
    offline = next(r for r in records.values() if r["retailerStoreId"] == "")
    response = await shopper.client.get(
        f"/iga/api/storefront/stores/{offline['storeId']}/categoryHierarchy",
        headers=shopper.iga_headers(offline["storeId"]),
    )
    assert response.status_code == 404


# --- bad input --------------------------------------------------------------------------
async def test_invalid_requests_get_a_specific_4xx(shopper: Any, world: World) -> None:
    cookies = {"wow-session": await shopper.wow_session()}
    bad_body = await shopper.wow("POST", "/apis/ui/browse/category", cookies, content=b"{oops")
    assert bad_body.status_code == 400
    unknown = await shopper.wow_browse(cookies, "1-NOPE", 1)
    assert unknown.status_code == 400 and unknown.json()["Success"] is False
    bad_max = await shopper.wow(
        "GET",
        "/apis/ui/StoreLocator/Stores",
        cookies,
        params={"Max": "lots", "Division": "SUPERMARKETS"},
    )
    assert bad_max.status_code == 400
    store = world.chains["aldi"].default_store.store_id
    assert (await shopper.aldi_search("G0", "1", 0)).status_code == 400
    assert (await shopper.aldi_search(store, "not-a-key", 0)).status_code == 400
    rid = _open_store(world, "iga").retailer_store_id
    no_session = await shopper.client.get(
        f"/iga/api/storefront/stores/{rid}/categories/Pantry/search",
        params={"take": 36, "skip": 0},
        headers=shopper.iga_headers(rid),
    )
    assert no_session.status_code == 400
    gql = await shopper.coles_gql("DropTables", {})
    assert gql.status_code == 400
