"""Coles: Next.js data routes behind Imperva; the store is chosen by cookie."""

from __future__ import annotations

import re
from typing import Any

import structlog
from splitcart_shared.clock import clock
from splitcart_shared.events import ScrapeKind, StoreRecord

from .base import (
    PAGE_ATTEMPTS,
    CatalogueAdapter,
    Category,
    ParsedPage,
    Product,
    StoreDiscovery,
    StoreTarget,
    fetch_json,
)
from .errors import BlockedError, ShapeError, StoreUnavailableError, UnexpectedStatusError
from .fields import (
    as_object,
    coordinate,
    decode_json,
    fail,
    opt_cents,
    opt_str,
    req_dict,
    req_str,
    shape_error,
    top_field,
)
from .http import RetailerHttp, RetailerSession
from .money import MoneyError, normalise_measure, unit_dollars_to_cents

CHAIN = "coles"
log = structlog.get_logger()
SITE = "https://www.coles.com.au"
IMAGE_BASE = "https://productimages.coles.com.au/productimages"


def parse_listing(data: Any) -> ParsedPage:
    """``/_next/data/{buildId}/en/browse/{slug}.json`` → products, total, served store."""
    page_props = top_field(CHAIN, as_object(CHAIN, data), "pageProps", dict)
    results = top_field(CHAIN, page_props, "searchResults", dict, "$.pageProps")
    total = top_field(CHAIN, results, "noOfResults", int, "$.pageProps.searchResults")
    rows = top_field(CHAIN, results, "results", list, "$.pageProps.searchResults")
    products: list[Product] = []
    dropped = {"ad_tile": 0}
    for i, raw in enumerate(rows):
        try:
            kind = raw["_type"]
            if kind != "PRODUCT":
                dropped["ad_tile"] += 1
                continue
            products.append(parse_product(raw))
        except Exception as exc:  # any failure inside one product is a shape change
            raise shape_error(CHAIN, f"$.pageProps.searchResults.results[{i}]", exc) from exc
    return ParsedPage(products, total, served_store(page_props), dropped)


def served_store(page_props: dict[str, Any]) -> str | None:
    store = page_props.get("initStoreId")
    if store is None:
        return None
    if type(store) not in (str, int):
        raise ShapeError(CHAIN, "$.pageProps.initStoreId", f"expected a store id, got {store!r}")
    return str(store)


def parse_product(raw: dict[str, Any]) -> Product:
    sku = raw["id"]
    if type(sku) not in (int, str):
        fail("id", f"expected a product id, got {sku!r}")
    name = opt_str(raw, "name")
    if name is None:
        fail("name", "missing or blank")
    pricing = raw.get("pricing")
    price, was, unit_price, unit_measure = _pricing(pricing)
    available = raw["availability"]
    if type(available) is not bool:
        fail("availability", f"expected true/false, got {available!r}")
    return {
        "sku": str(sku),
        "name": name,
        "brand": opt_str(raw, "brand"),
        "size": opt_str(raw, "size"),
        "barcode": None,
        "category_path": _category_path(raw),
        "price_cents": price,
        "was_price_cents": was,
        "unit_price_cents": unit_price,
        "unit_measure": unit_measure,
        "on_special": was is not None,
        "available": available and price is not None,
        "url": f"{SITE}/product/{sku}",
        "image_url": _image(raw),
    }


def _pricing(pricing: Any) -> tuple[int | None, int | None, int | None, str | None]:
    """(price, was, unit price, unit measure); a product without pricing has no price."""
    if pricing is None:
        return None, None, None, None
    if type(pricing) is not dict:
        fail("pricing", "expected an object or null")
    price = opt_cents(pricing, "now")
    was = opt_cents(pricing, "was")
    # Coles sends was = 0 for "not on special".
    if not was or price is None or was == price:
        was = None
    unit_price, measure = _unit(pricing.get("unit"))
    return price, was, unit_price, measure


def _unit(unit: Any) -> tuple[int | None, str | None]:
    if unit is None:
        return None, None
    if type(unit) is not dict:
        fail("pricing.unit", "expected an object or null")
    price = unit.get("price")
    units = unit.get("ofMeasureUnits")
    if price is None or not units:
        return None, None
    if type(price) not in (int, float):
        fail("pricing.unit.price", f"expected a number, got {price!r}")
    quantity = unit.get("ofMeasureQuantity") or 1
    measure = normalise_measure(f"{quantity}{units}")
    if measure is None:
        fail("pricing.unit.ofMeasureUnits", f"unrecognised measure {quantity}{units}")
    try:
        return unit_dollars_to_cents(price), measure
    except MoneyError as exc:
        fail("pricing.unit.price", str(exc))


def _category_path(raw: dict[str, Any]) -> list[str]:
    heirs = raw.get("onlineHeirs")
    if not heirs:
        return []
    if type(heirs) is not list or type(heirs[0]) is not dict:
        fail("onlineHeirs", "expected a list of objects")
    first = heirs[0]
    # Coles names its levels oddly: "subCategory" is the top (e.g. "Meat & Seafood").
    names = (first.get("subCategory"), first.get("category"), first.get("aisle"))
    return [n for n in names if type(n) is str and n]


def _image(raw: dict[str, Any]) -> str | None:
    uris = raw.get("imageUris")
    if not uris or type(uris) is not list or type(uris[0]) is not dict:
        return None
    uri = uris[0].get("uri")
    return f"{IMAGE_BASE}{uri}" if type(uri) is str and uri else None


def parse_barcode(data: Any) -> str | None:
    """The product page data (``/_next/data/{buildId}/en/product/{slug}.json``) → gtin."""
    page_props = top_field(CHAIN, as_object(CHAIN, data), "pageProps", dict)
    product = top_field(CHAIN, page_props, "product", dict, "$.pageProps")
    gtin = product.get("gtin")
    if gtin is None or gtin == "":
        return None
    if type(gtin) is not str:
        raise ShapeError(CHAIN, "$.pageProps.product.gtin", f"expected a string, got {gtin!r}")
    return gtin


# --- pages, menu and stores -------------------------------------------------------------

_NEXT_DATA = re.compile(
    r'<script[^>]*id="__NEXT_DATA__"[^>]*>(.*?)</script>', re.DOTALL | re.IGNORECASE
)
_RUNTIME_CONFIG = re.compile(
    r"window\.__RUNTIME_CONFIG__\s*=\s*(\{.*?\})\s*;?\s*</script>", re.DOTALL
)
CHALLENGE_MARKERS = ("_Incapsula_Resource", "Incapsula incident", "Request unsuccessful")


def parse_site_config(html: str) -> tuple[str, str | None]:
    """(buildId, API subscription key) from any Coles HTML page."""
    if any(marker in html for marker in CHALLENGE_MARKERS):
        raise BlockedError(CHAIN, SITE, "Incapsula challenge page")
    match = _NEXT_DATA.search(html)
    if match is None:
        raise ShapeError(CHAIN, "html#__NEXT_DATA__", "no __NEXT_DATA__ script on the page")
    next_data = as_object(CHAIN, decode_json(CHAIN, match.group(1).encode(), "__NEXT_DATA__"))
    build_id = top_field(CHAIN, next_data, "buildId", str, "__NEXT_DATA__")
    key = None
    config = _RUNTIME_CONFIG.search(html)
    if config is not None:
        runtime = decode_json(CHAIN, config.group(1).encode(), "__RUNTIME_CONFIG__")
        if type(runtime) is dict and type(runtime.get("BFF_API_SUBSCRIPTION_KEY")) is str:
            key = runtime["BFF_API_SUBSCRIPTION_KEY"]
    return build_id, key


def parse_menu(data: Any) -> list[dict[str, Any]]:
    """``GetShopProductsMenu`` → its level-1 items (children under ``childItems``)."""
    body = as_object(CHAIN, data)
    if "errors" in body and not body.get("data"):
        raise ShapeError(CHAIN, "$.errors", str(body["errors"])[:200])
    data_node = top_field(CHAIN, body, "data", dict)
    menu = top_field(CHAIN, data_node, "menuItems", dict, "$.data")
    items = top_field(CHAIN, menu, "items", list, "$.data.menuItems")
    for i, item in enumerate(items):
        path = f"$.data.menuItems.items[{i}]"
        for key, kind in (("id", str), ("name", str), ("seoToken", str), ("level", int)):
            top_field(CHAIN, as_object(CHAIN, item, path), key, kind, path)
    # Seasonal catalogues (Down Down, ...) re-list products of the core aisles.
    return [item for item in items if item.get("subType", "CORE") == "CORE"]


def menu_categories(
    items: list[dict[str, Any]], kind: ScrapeKind, page_size: int = 48
) -> list[Category]:
    """Full scrapes page the top categories; spot checks their children where those hold
    a page of products each on average (finer than that, a request buys a handful of
    products and a spot check costs as much as a full scrape)."""
    if kind == "full":
        return [Category(i["seoToken"], i["name"], _count(i)) for i in items]
    categories = []
    for item in items:
        children = [c for c in item.get("childItems") or [] if type(c) is dict]
        if children and (_count(item) or 0) < page_size * len(children):
            children = []
        if not children:
            categories.append(Category(item["seoToken"], item["name"], _count(item)))
        for child in children:
            slug = f"{item['seoToken']}/{child['seoToken']}"
            categories.append(Category(slug, child["name"], _count(child)))
    return categories


def _count(item: dict[str, Any]) -> int | None:
    count = item.get("productCount")
    return count if type(count) is int else None


def parse_stores(data: Any) -> list[StoreRecord]:
    """``GetStores`` → store records."""
    data_node = top_field(CHAIN, as_object(CHAIN, data), "data", dict)
    stores = top_field(CHAIN, data_node, "stores", dict, "$.data")
    results = top_field(CHAIN, stores, "results", list, "$.data.stores")
    records = []
    for i, row in enumerate(results):
        try:
            records.append(_store_record(row["store"]))
        except Exception as exc:  # a changed locator record is a shape change
            raise shape_error(CHAIN, f"$.data.stores.results[{i}].store", exc) from exc
    return records


def _store_record(raw: dict[str, Any]) -> StoreRecord:
    address = req_dict(raw, "address")
    position = raw.get("position") or {}
    brand = req_dict(raw, "brand")
    return StoreRecord(
        store_id=req_str(raw, "id"),
        name=req_str(raw, "name"),
        division=req_str(brand, "name"),
        address=opt_str(address, "addressLine"),
        suburb=opt_str(address, "suburb"),
        state=opt_str(address, "state"),
        postcode=opt_str(address, "postcode"),
        latitude=coordinate(position.get("latitude")),
        longitude=coordinate(position.get("longitude")),
    )


def numeric_store_id(store_id: str) -> str:
    """``"COL:858"`` → ``"858"``: the number the fulfillmentStoreId cookie wants."""
    number = store_id.rsplit(":", 1)[-1].lstrip("0") or "0"
    if not number.isdigit():
        raise StoreUnavailableError(CHAIN, store_id, "not a Coles store id")
    return number


def product_slug(sku_or_url: str) -> str:
    """The product data route's slug from a SKU, a slug or a product URL; only the
    trailing ``-<id>`` matters to Coles."""
    tail = sku_or_url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".json")
    return f"product-{tail}" if tail.isdigit() else tail


# --- the adapter ------------------------------------------------------------------------

# One GetStores call per capital (500 nearest each) covers the country.
CAPITALS = (
    (-33.87, 151.21),
    (-37.81, 144.96),
    (-27.47, 153.03),
    (-31.95, 115.86),
    (-34.93, 138.60),
    (-42.88, 147.33),
    (-35.28, 149.13),
    (-12.46, 130.84),
)
_NOT_FOUND = frozenset({404})
_MENU_QUERY = (
    "query GetShopProductsMenu($storeId: BrowseStoreId) { menuItems(storeId: $storeId) "
    "{ restrictedIds items { id level name originalName productCount seoToken type subType "
    "childItems { id level name productCount seoToken childItems { id level name "
    "productCount seoToken } } } } }"
)
_STORES_QUERY = (
    "query GetStores($latitude: Float!, $longitude: Float!, $brandIds: [BrandId!], "
    "$numberOfStores: Int) { stores(latitude: $latitude, longitude: $longitude, brandIds: "
    "$brandIds, numberOfStores: $numberOfStores) { totalCount results { distance store { "
    "id name phone isTrading address { addressLine suburb state postcode } position { "
    "latitude longitude } brand { id name storeFinderId } } } } }"
)


class ColesAdapter(CatalogueAdapter):
    """Coles: an imported Imperva cookie jar, the store chosen by cookie, Next.js data
    routes under a build id read from the site."""

    company = "coles"
    page_size = 48

    def __init__(
        self,
        http: RetailerHttp,
        cookie_jar: dict[str, str] | None = None,
        subscription_key: str | None = None,
    ) -> None:
        super().__init__(http)
        self.cookie_jar = dict(cookie_jar or {})
        self._configured_key = subscription_key
        self._site: tuple[str, str | None] | None = None

    def _session(self, store: StoreTarget | None = None) -> RetailerSession:
        cookies = dict(self.cookie_jar)
        if store is not None:
            cookies["fulfillmentStoreId"] = numeric_store_id(store.store_id)
            cookies["shopping-method"] = "clickAndCollect"
        site = SITE
        headers = {"Origin": site, "Referer": f"{site}/", "Accept": "application/json"}
        return self.http.session(cookies=cookies, headers=headers)

    async def _site_config(
        self, session: RetailerSession, refresh: bool = False
    ) -> tuple[str, str]:
        if self._site is None or refresh:
            self._site = await self._read_site(session)
            log.info("scrape.coles_build", build_id=self._site[0])
        build_id, key = self._site
        return build_id, self._configured_key or key or ""

    async def _read_site(self, session: RetailerSession) -> tuple[str, str | None]:
        for attempt in range(1, PAGE_ATTEMPTS + 1):
            response = await session.get("/", headers={"Accept": "text/html"})
            if response.status_code != 200:
                raise BlockedError(CHAIN, str(response.request.url), f"HTTP {response.status_code}")
            try:
                return parse_site_config(response.text)
            except BlockedError:
                raise
            except ShapeError:
                # A page cut short loses its __NEXT_DATA__; a changed site loses it for good.
                if attempt == PAGE_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    async def _graphql(
        self, session: RetailerSession, operation: str, query: str, variables: dict[str, Any]
    ) -> Any:
        _, key = await self._site_config(session)
        body = {"operationName": operation, "variables": variables, "query": query}
        headers = {"ocp-apim-subscription-key": key} if key else {}
        data, _ = await fetch_json(
            session, "POST", "/api/graphql", operation, json=body, headers=headers
        )
        return data

    async def discover_stores(self) -> StoreDiscovery:
        session = self._session()
        stores: dict[str, StoreRecord] = {}
        for latitude, longitude in CAPITALS:
            variables = {
                "latitude": latitude,
                "longitude": longitude,
                "brandIds": ["COL", "LQR"],
                "numberOfStores": 500,
            }
            data = await self._graphql(session, "GetStores", _STORES_QUERY, variables)
            for record in parse_stores(data):
                stores.setdefault(record.store_id, record)
        return StoreDiscovery(
            company=self.company,
            stores=list(stores.values()),
            divisions=sorted({s.division for s in stores.values()}),
            complete=True,
            requests_made=session.requests_made,
            swept_at=clock.now(),
        )

    async def open_session(self, store: StoreTarget) -> RetailerSession:
        session = self._session(store)
        await self._site_config(session)
        return session

    async def categories(
        self, session: RetailerSession, store: StoreTarget, kind: ScrapeKind
    ) -> list[Category]:
        variables = {"storeId": numeric_store_id(store.store_id).zfill(4)}
        data = await self._graphql(session, "GetShopProductsMenu", _MENU_QUERY, variables)
        return menu_categories(parse_menu(data), kind, self.page_size)

    async def fetch_page(
        self, session: RetailerSession, store: StoreTarget, category: Category, index: int
    ) -> ParsedPage | None:
        params = {"slug": category.key, "page": index + 1}
        data = await self._data_route(session, f"browse/{category.key}", params, "listing")
        if data is None:
            raise UnexpectedStatusError(CHAIN, f"browse/{category.key}", 404)
        return parse_listing(data)

    async def _data_route(
        self, session: RetailerSession, route: str, params: dict[str, Any], what: str
    ) -> Any:
        """A Next.js data route's JSON; None when it is not found even under a fresh build id."""
        # A deploy changes the build id and old data routes 404: re-read it once.
        for refresh in (False, True):
            build_id, _ = await self._site_config(session, refresh=refresh)
            path = f"/_next/data/{build_id}/en/{route}.json"
            data, response = await fetch_json(
                session, "GET", path, what, accept_status=_NOT_FOUND, params=params
            )
            if response.status_code != 404:
                return data
        return None

    def served_matches(self, requested: str, served: str) -> bool:
        # Listings spell the store "0858", the locator "COL:858".
        return served.isdigit() and int(served) == int(numeric_store_id(requested))

    async def fetch_barcode(self, product_sku_or_url: str) -> str | None:
        """The product's GTIN from its page data; None when Coles gives none."""
        session = self._session()
        slug = product_slug(product_sku_or_url)
        data = await self._data_route(session, f"product/{slug}", {"slug": slug}, "product page")
        return None if data is None else parse_barcode(data)
