"""What a scraper reads over HTTP is exactly the admin ground truth, for every chain."""

from __future__ import annotations

from typing import Any

import httpx
from splitcart_scraper.sandbox import World


async def _truth(client: httpx.AsyncClient, chain: str, store: str) -> dict[str, dict[str, Any]]:
    rows = (await client.get(f"/admin/truth/{chain}/{store}")).json()["rows"]
    return {r["sku"]: r for r in rows}


def _cents(dollars: float) -> int:
    return round(dollars * 100)


async def test_woolworths_rows_match_the_truth(shopper: Any, world: World) -> None:
    cookies = {"wow-session": await shopper.wow_session()}
    truth = await _truth(shopper.client, "woolworths", "1101")
    for node in world.chains["woolworths"].catalogue.top_nodes()[:4]:
        body = (await shopper.wow_browse(cookies, node.ext_id, 1)).json()
        for bundle in body["Bundles"]:
            row = bundle["Products"][0]
            if row["IsMarketProduct"]:
                assert str(row["Stockcode"]) not in truth
                continue
            want = truth[str(row["Stockcode"])]
            assert want["listed"] and row["IsAvailable"] == want["available"]
            assert _cents(row["InstorePrice"]) == want["price_cents"]
            assert row["IsOnSpecial"] == want["on_special"]
            if want["on_special"]:
                assert _cents(row["InstoreWasPrice"]) == want["was_price_cents"]


async def test_coles_rows_match_the_truth(shopper: Any, world: World) -> None:
    store = next(s for s in world.chains["coles"].stores if s.fresh_local and s.is_open(0))
    truth = await _truth(shopper.client, "coles", store.store_id)
    for node in world.chains["coles"].catalogue.top_nodes()[:4]:
        page = (await shopper.coles_browse(node.slug, 1, store.number)).json()
        for row in page["pageProps"]["searchResults"]["results"]:
            if row["_type"] != "PRODUCT":
                continue
            want = truth[str(row["id"])]
            assert _cents(row["pricing"]["now"]) == want["price_cents"]
            assert row["availability"] == want["available"]
            was = row["pricing"]["was"]
            assert (was == 0) != want["on_special"]
            if want["on_special"]:
                assert _cents(was) == want["was_price_cents"]


async def test_iga_rows_match_the_truth(shopper: Any, world: World) -> None:
    store = next(s for s in world.chains["iga"].stores if s.retailer_store_id and s.is_open(0))
    truth = await _truth(shopper.client, "iga", store.store_id)
    for node in world.chains["iga"].catalogue.top_nodes()[:4]:
        body = (await shopper.iga_search(store.retailer_store_id, node.ext_id, 0)).json()
        for item in body["items"]:
            want = truth[item["sku"]]
            assert _cents(item["priceNumeric"]) == want["price_cents"]
            assert item["available"] == want["available"]
            assert bool(item["tprPrice"]) == want["on_special"]
            if want["on_special"]:
                assert _cents(item["wasWholePrice"]) == want["was_price_cents"]
