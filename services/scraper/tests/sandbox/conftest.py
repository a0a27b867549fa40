"""Fixtures for the sandbox tests: a small world served in-process over ASGI."""

from __future__ import annotations

import html
import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from splitcart_scraper.sandbox import World, create_app
from splitcart_scraper.sandbox.coles import build_id, subscription_key

SEED = 7
SCALE = 0.05
IGA_MODE = "11111111-1111-1111-1111-111111111111"
INCAP = {"visid_incap_2800108": "abc", "incap_ses_1234_2800108": "def"}


@pytest.fixture(scope="session")
def world() -> World:
    """Shared, read-only world: tests that move the clock build their own."""
    return World(SEED, SCALE, SCALE)


@pytest.fixture
def app(world: World) -> FastAPI:
    return create_app(SEED, world=world)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as c:
        yield c


class Shopper:
    """Speaks each chain's protocol the way an adapter would (cookies set per request)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.build = build_id(SEED)
        self.key = subscription_key(SEED)

    @staticmethod
    def cookie_header(cookies: dict[str, str]) -> dict[str, str]:
        return {"cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}

    # --- Woolworths ---
    async def wow_session(self) -> str:
        response = await self.client.get("/woolworths/")
        self.client.cookies.clear()
        return response.cookies["wow-session"]

    async def wow(
        self, method: str, path: str, cookies: dict[str, str], **kw: Any
    ) -> httpx.Response:
        return await self.client.request(
            method, f"/woolworths{path}", headers=self.cookie_header(cookies), **kw
        )

    async def wow_browse(
        self, cookies: dict[str, str], node: str, page: int, size: int = 36
    ) -> httpx.Response:
        body = {
            "categoryId": node,
            "pageNumber": page,
            "pageSize": size,
            "sortType": "TraderRelevance",
            "isSpecial": False,
            "isBundle": False,
            "isMobile": False,
            "isHideEverydayMarketProducts": True,
            "filters": [],
            "categoryVersion": "v2",
        }
        return await self.wow("POST", "/apis/ui/browse/category", cookies, json=body)

    # --- Coles ---
    async def coles(
        self, method: str, path: str, store: int | None = None, blocked: bool = False, **kw: Any
    ) -> httpx.Response:
        cookies = {} if blocked else dict(INCAP)
        if store is not None:
            cookies["fulfillmentStoreId"] = str(store)
        return await self.client.request(
            method, f"/coles{path}", headers=self.cookie_header(cookies), **kw
        )

    async def coles_gql(self, operation: str, variables: dict[str, Any]) -> httpx.Response:
        return await self.client.post(
            "/coles/api/graphql",
            headers={**self.cookie_header(INCAP), "ocp-apim-subscription-key": self.key},
            json={"operationName": operation, "variables": variables, "query": "query {}"},
        )

    async def coles_browse(self, slug: str, page: int, store: int | None) -> httpx.Response:
        return await self.coles(
            "GET",
            f"/_next/data/{self.build}/en/browse/{slug}.json",
            store=store,
            params={"slug": slug, "page": page},
        )

    # --- Aldi ---
    async def aldi_search(
        self, store: str, key: str, offset: int, limit: int = 30
    ) -> httpx.Response:
        return await self.client.get(
            "/aldi/v3/product-search",
            params={
                "currency": "AUD",
                "serviceType": "walk-in",
                "categoryKey": key,
                "limit": limit,
                "offset": offset,
                "sort": "relevance",
                "servicePoint": store,
            },
        )

    # --- IGA ---
    def iga_headers(self, rid: str) -> dict[str, str]:
        return {
            "x-shopping-mode": IGA_MODE,
            **self.cookie_header({"iga-shop.retailerStoreId": rid}),
        }

    async def iga_search(
        self, rid: str, identifier: str, skip: int, take: int = 36
    ) -> httpx.Response:
        return await self.client.get(
            f"/iga/api/storefront/stores/{rid}/categories/{identifier}/search",
            params={"take": take, "skip": skip, "sessionId": str(uuid.uuid4())},
            headers=self.iga_headers(rid),
        )

    async def iga_locator(self, location: int) -> list[dict[str, Any]]:
        response = await self.client.get(
            "/iga-locator/location/storelocator/183/",
            params={
                "format": "json",
                "saleGroup": 0,
                "limit": 1500,
                "locationId": location,
                "callback": "jQuery123",
            },
        )
        text = response.text
        assert text.startswith("jQuery123(") and text.endswith(")")
        content = json.loads(text[len("jQuery123(") : -1])["content"]
        return [
            json.loads(html.unescape(m)) for m in re.findall(r'data-storedata="([^"]*)"', content)
        ]


@pytest.fixture
def shopper(client: httpx.AsyncClient) -> Shopper:
    return Shopper(client)
