"""Woolworths: an Akamai warm-up, the store chosen through Fulfilment with an imported
logged-in session, departments paged 36 rows at a time; the served store is read from
every product row (``FulfilmentStoreId``)."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import structlog
from splitcart_shared.clock import clock
from splitcart_shared.events import ScrapeKind, StoreRecord

from .base import (
    CatalogueAdapter,
    Category,
    ParsedPage,
    Product,
    StoreDiscovery,
    StoreTarget,
    fetch_json,
)
from .errors import BlockedError, SessionRequiredError, ShapeError, StoreUnavailableError
from .fields import (
    as_object,
    coordinate,
    fail,
    json_in_string,
    opt_cents,
    opt_str,
    req_bool,
    req_str,
    shape_error,
    top_field,
)
from .http import RetailerHttp, RetailerSession
from .money import MoneyError, normalise_measure, unit_dollars_to_cents

CHAIN = "woolworths"
log = structlog.get_logger()
PRODUCT_URL = "https://www.woolworths.com.au/shop/productdetails/{sku}/{slug}"
_PATH_KEYS = ("piesdepartmentnamesjson", "piescategorynamesjson", "piessubcategorynamesjson")


def parse_listing(data: Any) -> ParsedPage:
    """One listing page: products, ``TotalRecordCount``, the fulfilment store served."""
    page = as_object(CHAIN, data)
    bundles = top_field(CHAIN, page, "Bundles", list)
    total = top_field(CHAIN, page, "TotalRecordCount", int)
    products: list[Product] = []
    served: set[str] = set()
    dropped = {"sponsored": 0, "marketplace": 0}
    for b, bundle in enumerate(bundles):
        rows = top_field(CHAIN, as_object(CHAIN, bundle, f"$.Bundles[{b}]"), "Products", list)
        for i, raw in enumerate(rows):
            path = f"$.Bundles[{b}].Products[{i}]"
            try:
                if raw["IsSponsoredAd"] is True:
                    dropped["sponsored"] += 1
                    continue
                if raw.get("IsMarketProduct") is True:
                    dropped["marketplace"] += 1
                    continue
                products.append(parse_product(raw))
                served.add(_store(raw))
            except Exception as exc:  # any failure inside one product is a shape change
                raise shape_error(CHAIN, path, exc) from exc
    counted = len(products) + dropped["marketplace"]
    return ParsedPage(products, total, _served(served), dropped, counted)


def parse_product(raw: dict[str, Any]) -> Product:
    sku = raw["Stockcode"]
    if type(sku) is not int:
        fail("Stockcode", f"expected an integer, got {sku!r}")
    price = opt_cents(raw, "Price")
    was = opt_cents(raw, "WasPrice")
    on_special = price is not None and was is not None and was != price
    unit_price, unit_measure = _unit(raw)
    return {
        "sku": str(sku),
        "name": _name(raw),
        "brand": opt_str(raw, "Brand"),
        "size": opt_str(raw, "PackageSize"),
        "barcode": opt_str(raw, "Barcode"),
        "category_path": _category_path(raw),
        "price_cents": price,
        "was_price_cents": was if on_special else None,
        "unit_price_cents": unit_price,
        "unit_measure": unit_measure,
        "on_special": on_special,
        # No price means it cannot be bought here, whatever IsAvailable says.
        "available": price is not None and req_bool(raw, "IsAvailable"),
        "url": _url(raw, sku),
        "image_url": opt_str(raw, "MediumImageFile") or opt_str(raw, "LargeImageFile"),
    }


def _name(raw: dict[str, Any]) -> str:
    name = opt_str(raw, "Name") or opt_str(raw, "DisplayName")
    if name is None:
        fail("Name", "missing or blank")
    return name


def _unit(raw: dict[str, Any]) -> tuple[int | None, str | None]:
    cup = raw.get("CupPrice")
    measure = opt_str(raw, "CupMeasure")
    if cup is None or measure is None:
        return None, None
    if type(cup) not in (int, float):
        fail("CupPrice", f"expected a number or null, got {cup!r}")
    normalised = normalise_measure(measure)
    if normalised is None:
        fail("CupMeasure", f"unrecognised measure {measure!r}")
    try:
        return unit_dollars_to_cents(cup), normalised
    except MoneyError as exc:
        fail("CupPrice", str(exc))


def _category_path(raw: dict[str, Any]) -> list[str]:
    attributes = raw.get("AdditionalAttributes")
    if attributes is None:
        return []
    if type(attributes) is not dict:
        fail("AdditionalAttributes", "expected an object")
    path: list[str] = []
    for key in _PATH_KEYS:
        names = json_in_string(attributes, key)
        if names is None:
            continue
        if type(names) is not list:
            fail(f"AdditionalAttributes.{key}", f"expected a JSON list, got {names!r}")
        if names and type(names[0]) is str and names[0]:
            path.append(names[0])
    return path


def _url(raw: dict[str, Any], sku: int) -> str:
    slug = opt_str(raw, "UrlFriendlyName") or ""
    return PRODUCT_URL.format(sku=sku, slug=slug).rstrip("/")


def _store(raw: dict[str, Any]) -> str:
    store = raw["FulfilmentStoreId"]
    if type(store) not in (int, str):
        fail("FulfilmentStoreId", f"expected a store number, got {store!r}")
    return str(store)


def _served(stores: set[str]) -> str | None:
    """The one store the page was served for; a mix (never seen) is reported as such
    so it can never be mistaken for the requested store."""
    if not stores:
        return None
    return ",".join(sorted(stores))


# --- categories and stores --------------------------------------------------------------

_SKIPPED_NAMES = frozenset({"everyday market", "front of store"})
# Woolworths stops paging a node after 10,000 rows; bigger nodes are paged by children.
NODE_ROW_CAP = 10_000


def parse_category_tree(data: Any) -> list[dict[str, Any]]:
    """The browsable top-level nodes: specials, Everyday Market and Front of Store out."""
    nodes = top_field(CHAIN, as_object(CHAIN, data), "Categories", list)
    kept = []
    for i, node in enumerate(nodes):
        path = f"$.Categories[{i}]"
        node = as_object(CHAIN, node, path)
        for key, kind in (("NodeId", str), ("Description", str), ("UrlFriendlyName", str)):
            top_field(CHAIN, node, key, kind, path)
        if not _skipped(node):
            kept.append(node)
    return kept


def _skipped(node: dict[str, Any]) -> bool:
    return (
        node["NodeId"].upper().endswith("_SPECIALS")
        or node["UrlFriendlyName"].endswith("-specials")
        or node["Description"].strip().lower() in _SKIPPED_NAMES
        or node.get("IsSpecial") is True
    )


def full_nodes(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The fewest nodes that list everything: a node, or its children when it is over the
    row cap."""
    chosen: list[dict[str, Any]] = []
    for node in nodes:
        children = _children(node)
        if _count(node) > NODE_ROW_CAP and children:
            chosen.extend(full_nodes(children))
        else:
            chosen.append(node)
    return chosen


def spot_nodes(nodes: list[dict[str, Any]], page_size: int = 36) -> list[dict[str, Any]]:
    """Second-level nodes (finer than departments, so a sample of them is small), where
    they hold a page of products each on average: finer nodes than that cost a request
    for a handful of products, and a spot check would cost as much as a full scrape."""
    chosen: list[dict[str, Any]] = []
    for node in nodes:
        children = _children(node)
        fine = children and _count(node) >= page_size * len(children)
        chosen.extend(children if fine else [node])
    return chosen


def _children(node: dict[str, Any]) -> list[dict[str, Any]]:
    children = node.get("Children") or []
    if type(children) is not list:
        raise ShapeError(CHAIN, f"$.Categories[{node['NodeId']}].Children", "expected a list")
    return [c for c in children if type(c) is dict and not _skipped(c)]


def _count(node: dict[str, Any]) -> int:
    count = node.get("ProductCount")
    return count if type(count) is int else 0


def parse_stores(data: Any) -> list[StoreRecord]:
    """``/apis/ui/StoreLocator/Stores`` → store records."""
    rows = top_field(CHAIN, as_object(CHAIN, data), "Stores", list)
    stores = []
    for i, raw in enumerate(rows):
        try:
            stores.append(_store_record(raw))
        except Exception as exc:  # a changed locator record is a shape change
            raise shape_error(CHAIN, f"$.Stores[{i}]", exc) from exc
    return stores


def _store_record(raw: dict[str, Any]) -> StoreRecord:
    store_no = raw["StoreNo"]
    if type(store_no) not in (str, int):
        fail("StoreNo", f"expected a store number, got {store_no!r}")
    address = " ".join(p for p in (opt_str(raw, "AddressLine1"), opt_str(raw, "AddressLine2")) if p)
    return StoreRecord(
        store_id=str(store_no),
        name=req_str(raw, "Name"),
        division=req_str(raw, "Division"),
        address=address or None,
        suburb=opt_str(raw, "Suburb"),
        state=opt_str(raw, "State"),
        postcode=opt_str(raw, "Postcode"),
        latitude=coordinate(raw.get("Latitude")),
        longitude=coordinate(raw.get("Longitude")),
    )


# --- the adapter ------------------------------------------------------------------------

DIVISIONS = ("SUPERMARKETS", "METRO")
_REFUSED = frozenset({400, 401})


class WoolworthsAdapter(CatalogueAdapter):
    """Woolworths: Akamai warm-up, store chosen through Fulfilment with an imported
    logged-in session, categories paged 36 at a time."""

    company = "woolworths"
    page_size = 36

    def __init__(self, http: RetailerHttp, session_cookies: dict[str, str] | None = None) -> None:
        super().__init__(http)
        self.session_cookies = dict(session_cookies or {})

    async def discover_stores(self) -> StoreDiscovery:
        session = self.http.session(headers=self._headers())
        await self._warm_up(session)
        stores: list[StoreRecord] = []
        for division in DIVISIONS:
            params = {"Max": 10000, "Division": division, "Facility": "", "postcode": "*"}
            data, _ = await fetch_json(
                session, "GET", "/apis/ui/StoreLocator/Stores", "store locator", params=params
            )
            stores.extend(parse_stores(data))
        return StoreDiscovery(
            company=self.company,
            stores=list({s.store_id: s for s in stores}.values()),
            divisions=sorted({s.division for s in stores}),
            complete=True,
            requests_made=session.requests_made,
            swept_at=clock.now(),
        )

    async def open_session(self, store: StoreTarget) -> RetailerSession:
        session = self.http.session(cookies=self.session_cookies, headers=self._headers())
        await self._warm_up(session)
        if not self.session_cookies:
            # Anonymous sessions are served the default store; the served-store check on
            # every page then tells the truth about it.
            log.warning("scrape.anonymous_session", company=CHAIN, store_id=store.store_id)
            return session
        await self._choose_store(session, store)
        return session

    async def _warm_up(self, session: RetailerSession) -> None:
        response = await session.get("/")
        if response.status_code != 200:
            raise BlockedError(
                CHAIN, str(response.request.url), f"warm-up HTTP {response.status_code}"
            )

    async def _choose_store(self, session: RetailerSession, store: StoreTarget) -> None:
        if not store.store_id.isdigit():
            raise StoreUnavailableError(CHAIN, store.store_id, "not a Woolworths store number")
        body = {"fulfilmentMethod": "Pickup", "fulfilmentStoreId": int(store.store_id)}
        answer, response = await fetch_json(
            session, "POST", "/apis/ui/Fulfilment", "fulfilment", accept_status=_REFUSED, json=body
        )
        if response.status_code == 401:
            raise SessionRequiredError(CHAIN, "the imported session is not logged in (401)")
        if response.status_code == 400:
            raise StoreUnavailableError(CHAIN, store.store_id, _error_message(response))
        if as_object(CHAIN, answer).get("IsSuccessful") is not True:
            raise StoreUnavailableError(CHAIN, store.store_id, str(answer)[:200])

    async def categories(
        self, session: RetailerSession, store: StoreTarget, kind: ScrapeKind
    ) -> list[Category]:
        data, _ = await fetch_json(
            session, "GET", "/apis/ui/PiesCategoriesWithSpecials", "category tree"
        )
        nodes = parse_category_tree(data)
        chosen = full_nodes(nodes) if kind == "full" else spot_nodes(nodes, self.page_size)
        return [Category(n["NodeId"], n["Description"], _count(n)) for n in chosen]

    async def fetch_page(
        self, session: RetailerSession, store: StoreTarget, category: Category, index: int
    ) -> ParsedPage | None:
        body = _browse_body(category, index)
        data, _ = await fetch_json(
            session, "POST", "/apis/ui/browse/category", "listing", json=body
        )
        return parse_listing(data)

    def _headers(self) -> dict[str, str]:
        site = "https://www.woolworths.com.au"
        return {"Origin": site, "Referer": f"{site}/", "Accept": "application/json"}


def _browse_body(category: Category, index: int) -> dict[str, Any]:
    return {
        "categoryId": category.key,
        "pageNumber": index + 1,
        "pageSize": 36,
        "sortType": "TraderRelevance",
        "url": f"/shop/browse/{category.key}",
        "location": f"/shop/browse/{category.key}",
        "formatObject": orjson.dumps({"name": category.name}).decode(),
        "isSpecial": False,
        "isBundle": False,
        "isMobile": False,
        "isHideEverydayMarketProducts": True,
        "filters": [],
        "token": "",
        "gpBoost": 0,
        "categoryVersion": "v2",
    }


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("ErrorMessage") or body)[:200]
    return str(body)[:200]
