"""IGA: the Metcash storefront API, one online shop (retailerStoreId) per store."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

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
from .errors import MalformedBodyError, StoreUnavailableError, UnexpectedStatusError
from .fields import (
    as_object,
    coordinate,
    decode_json,
    fail,
    opt_cents,
    opt_str,
    req_str,
    shape_error,
    top_field,
)
from .http import RetailerHttp, RetailerSession
from .money import MoneyError, display_to_cents, normalise_measure

CHAIN = "iga"
SITE = "https://www.igashop.com.au"
_PER_UNIT = re.compile(r"^\s*(\$[\d.,]+)\s*/\s*(.+?)\s*$")


def parse_listing(data: Any) -> ParsedPage:
    """``/api/storefront/stores/{rid}/categories/{id}/search`` → products and ``total``."""
    page = as_object(CHAIN, data)
    rows = top_field(CHAIN, page, "items", list)
    total = top_field(CHAIN, page, "total", int)
    products: list[Product] = []
    for i, raw in enumerate(rows):
        try:
            products.append(parse_product(raw))
        except Exception as exc:  # any failure inside one product is a shape change
            raise shape_error(CHAIN, f"$.items[{i}]", exc) from exc
    return ParsedPage(products, total, None, {})


def parse_product(raw: dict[str, Any]) -> Product:
    sku = raw.get("sku") or raw["productId"]
    if type(sku) is not str:
        fail("sku", f"expected a string, got {sku!r}")
    name = opt_str(raw, "name")
    if name is None:
        fail("name", "missing or blank")
    price, was = _prices(raw)
    unit_price, measure = _per_unit(raw)
    available = raw["available"]
    if type(available) is not bool:
        fail("available", f"expected true/false, got {available!r}")
    return {
        "sku": sku,
        "name": name,
        "brand": opt_str(raw, "brand"),
        "size": _size(raw),
        "barcode": opt_str(raw, "barcode"),
        "category_path": _category_path(raw),
        "price_cents": price,
        "was_price_cents": was,
        "unit_price_cents": unit_price,
        "unit_measure": measure,
        "on_special": was is not None,
        "available": available and price is not None,
        "url": f"{SITE}/product/{sku}",
        "image_url": _image(raw),
    }


def _prices(raw: dict[str, Any]) -> tuple[int | None, int | None]:
    """(price, was): a temporary price reduction (TPR) is the special price, the whole
    price (or wasWholePrice) what it was."""
    whole = opt_cents(raw, "wholePrice")
    was = opt_cents(raw, "wasWholePrice")
    tpr = raw.get("tprPrice") or []
    if type(tpr) is not list:
        fail("tprPrice", "expected a list")
    if tpr:
        if type(tpr[0]) is not dict:
            fail("tprPrice[0]", "expected an object")
        special = opt_cents(tpr[0], "wholePrice")
        if special is not None and special != whole:
            return special, was if was is not None else whole
    if was is not None and whole is not None and was != whole:
        return whole, was
    return whole, None


def _per_unit(raw: dict[str, Any]) -> tuple[int | None, str | None]:
    text = opt_str(raw, "pricePerUnit")
    if text is None:
        return None, None
    match = _PER_UNIT.match(text)
    measure = normalise_measure(match.group(2)) if match else None
    if match is None or measure is None:
        fail("pricePerUnit", f"unrecognised unit price {text!r}")
    try:
        return display_to_cents(match.group(1)), measure
    except MoneyError as exc:
        fail("pricePerUnit", str(exc))


def _size(raw: dict[str, Any]) -> str | None:
    unit = raw.get("unitOfSize")
    if type(unit) is not dict:
        return None
    size, abbreviation = unit.get("size"), unit.get("abbreviation")
    if size is None or not abbreviation:
        return None
    return f"{size}{abbreviation}"


def _category_path(raw: dict[str, Any]) -> list[str]:
    default = raw.get("defaultCategory")
    if not default:
        return []
    if type(default) is not list or type(default[0]) is not dict:
        fail("defaultCategory", "expected a list of objects")
    crumb = default[0].get("categoryBreadcrumb")
    if type(crumb) is not str:
        fail("defaultCategory[0].categoryBreadcrumb", f"expected a string, got {crumb!r}")
    return [part for part in crumb.split("/") if part]


def _image(raw: dict[str, Any]) -> str | None:
    image = raw.get("image")
    if type(image) is not dict:
        return None
    url = image.get("default")
    return url if type(url) is str and url else None


# --- categories and stores --------------------------------------------------------------

SHOPPING_MODE = "11111111-1111-1111-1111-111111111111"
LOCATOR_PATH = "/location/storelocator/183/"
LOCALITY_IDS = range(1, 641)
_STOREDATA = re.compile(r'data-storedata="([^"]*)"')
_JSONP = re.compile(r"^[\w$.]*\((.*)\)\s*;?\s*$", re.DOTALL)


def parse_hierarchy(data: Any) -> list[dict[str, Any]]:
    """``categoryHierarchy`` → the departments (the root's grand-children: root → Grocery
    → department → category → subcategory)."""
    root = as_object(CHAIN, data)
    _check_node(root, "$")
    departments: list[dict[str, Any]] = []
    for top in root["children"]:
        departments.extend(top["children"] or [top])
    return departments


def _check_node(node: Any, path: str) -> None:
    node = as_object(CHAIN, node, path)
    top_field(CHAIN, node, "identifier", str, path)
    top_field(CHAIN, node, "displayName", str, path)
    children = top_field(CHAIN, node, "children", list, path)
    for j, child in enumerate(children):
        _check_node(child, f"{path}.children[{j}]")


def hierarchy_categories(departments: list[dict[str, Any]], kind: ScrapeKind) -> list[Category]:
    """Departments (a node lists everything below it), for full scrapes and spot checks
    alike: the hierarchy gives no counts to choose a finer grain by, and a spot check
    pages only the first page of each department it samples (``spot_pages``), so every
    request it makes returns a full page however large or small the catalogue is."""
    return [Category(n["identifier"], n["displayName"]) for n in departments]


def parse_locator(body: str) -> list[StoreRecord]:
    """The salefinder JSONP answer → store records (JSON inside HTML inside JSONP)."""
    match = _JSONP.match(body.strip())
    if match is None:
        raise MalformedBodyError(CHAIN, "locator", f"not a JSONP call: {body[:80]!r}")
    envelope = as_object(CHAIN, decode_json(CHAIN, match.group(1).encode(), "locator"))
    content = top_field(CHAIN, envelope, "content", str)
    records = []
    for i, escaped in enumerate(_STOREDATA.findall(content)):
        raw = decode_json(CHAIN, html.unescape(escaped).encode(), "data-storedata")
        try:
            records.append(_store_record(as_object(CHAIN, raw)))
        except Exception as exc:  # a changed locator record is a shape change
            raise shape_error(CHAIN, f"locator.storedata[{i}]", exc) from exc
    return records


def _store_record(raw: dict[str, Any]) -> StoreRecord:
    retailer_store_id = opt_str(raw, "retailerStoreId")
    return StoreRecord(
        store_id=str(req_str(raw, "storeId")),
        name=req_str(raw, "storeName"),
        division="IGA",
        address=opt_str(raw, "address"),
        suburb=opt_str(raw, "suburb"),
        state=opt_str(raw, "state"),
        postcode=opt_str(raw, "postcode"),
        latitude=coordinate(raw.get("latitude")),
        longitude=coordinate(raw.get("longitude")),
        scrapable=retailer_store_id is not None,
        retailer_store_id=retailer_store_id,
    )


# --- the adapter ------------------------------------------------------------------------


_NOT_FOUND = frozenset({404})


class IgaAdapter(CatalogueAdapter):
    """IGA: each store's online shop by its retailerStoreId; no served-store field, so
    the served store is the shop the path names."""

    company = "iga"
    page_size = 36
    spot_pages = 1

    def __init__(self, http: RetailerHttp, locator_url: str) -> None:
        super().__init__(http)
        self.locator_url = locator_url.rstrip("/")

    async def discover_stores(self) -> StoreDiscovery:
        session = self.http.session(headers={"Accept": "*/*"})
        stores: dict[str, StoreRecord] = {}
        for locality in LOCALITY_IDS:
            for record in await self._locality(session, locality):
                stores.setdefault(record.store_id, record)
        return StoreDiscovery(
            company=self.company,
            stores=list(stores.values()),
            divisions=["IGA"],
            complete=True,
            requests_made=session.requests_made,
            swept_at=clock.now(),
        )

    async def _locality(self, session: RetailerSession, locality: int) -> list[StoreRecord]:
        params = {
            "format": "json",
            "saleGroup": 0,
            "limit": 1500,
            "locationId": locality,
            "callback": "storeLocator",
        }
        for attempt in range(1, PAGE_ATTEMPTS + 1):
            response = await session.get(f"{self.locator_url}{LOCATOR_PATH}", params=params)
            if response.status_code != 200:
                raise UnexpectedStatusError(CHAIN, str(response.request.url), response.status_code)
            try:
                return parse_locator(response.text)
            except MalformedBodyError:
                if attempt == PAGE_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    async def open_session(self, store: StoreTarget) -> RetailerSession:
        rid = _rid(store)
        headers = {"x-shopping-mode": SHOPPING_MODE, "Accept": "application/json"}
        session = self.http.session(cookies={"iga-shop.retailerStoreId": rid}, headers=headers)
        session.context["sessionId"] = str(uuid.uuid4())
        return session

    async def categories(
        self, session: RetailerSession, store: StoreTarget, kind: ScrapeKind
    ) -> list[Category]:
        path = f"/api/storefront/stores/{_rid(store)}/categoryHierarchy"
        data = await self._json(session, store, path, "category hierarchy")
        return hierarchy_categories(parse_hierarchy(data), kind)

    async def fetch_page(
        self, session: RetailerSession, store: StoreTarget, category: Category, index: int
    ) -> ParsedPage | None:
        path = f"/api/storefront/stores/{_rid(store)}/categories/{category.key}/search"
        params = {"take": 36, "skip": index * 36, "sessionId": session.context["sessionId"]}
        page = parse_listing(await self._json(session, store, path, "listing", params=params))
        # IGA responses name no store: what was served is the shop the path asked for.
        page.served_store_id = store.store_id
        return page

    async def _json(
        self, session: RetailerSession, store: StoreTarget, path: str, what: str, **kwargs: Any
    ) -> Any:
        data, response = await fetch_json(
            session, "GET", path, what, accept_status=_NOT_FOUND, **kwargs
        )
        if response.status_code == 404:
            raise StoreUnavailableError(CHAIN, store.store_id, "no online shop (404)")
        return data


def _rid(store: StoreTarget) -> str:
    if not store.retailer_store_id:
        raise StoreUnavailableError(CHAIN, store.store_id, "no online shop (retailerStoreId)")
    return store.retailer_store_id
