"""Aldi: an open JSON API; amounts are already in cents."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import httpx
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
from .errors import StoreUnavailableError
from .fields import (
    as_object,
    coordinate,
    fail,
    opt_str,
    req_bool,
    req_dict,
    req_str,
    shape_error,
    top_field,
)
from .http import RetailerHttp, RetailerSession
from .money import MoneyError, display_to_cents, normalise_measure

CHAIN = "aldi"
SITE = "https://www.aldi.com.au"
_PER = re.compile(r"^\s*\$?\s*([\d.,]+)\s*per\s*(.+?)\s*$", re.IGNORECASE)


def parse_listing(data: Any) -> ParsedPage:
    """``/v3/product-search`` → products and ``meta.pagination.totalCount``."""
    page = as_object(CHAIN, data)
    meta = top_field(CHAIN, page, "meta", dict)
    pagination = top_field(CHAIN, meta, "pagination", dict, "$.meta")
    total = top_field(CHAIN, pagination, "totalCount", int, "$.meta.pagination")
    rows = top_field(CHAIN, page, "data", list)
    products: list[Product] = []
    for i, raw in enumerate(rows):
        try:
            products.append(parse_product(raw))
        except Exception as exc:  # any failure inside one product is a shape change
            raise shape_error(CHAIN, f"$.data[{i}]", exc) from exc
    return ParsedPage(products, total, served_point(page), {})


def parse_product(raw: dict[str, Any]) -> Product:
    sku = raw["sku"]
    if type(sku) is not str or not sku:
        fail("sku", f"expected a non-blank string, got {sku!r}")
    name = opt_str(raw, "name")
    if name is None:
        fail("name", "missing or blank")
    price = raw["price"]
    if type(price) is not dict:
        fail("price", "expected an object")
    amount = _cents(price, "amount")
    was = _was(price, amount)
    unit_price, measure = _comparison(price)
    return {
        "sku": sku,
        "name": name,
        "brand": opt_str(raw, "brandName"),
        "size": opt_str(raw, "sellingSize"),
        "barcode": None,  # Aldi publishes none
        "category_path": _category_path(raw),
        "price_cents": amount,
        "was_price_cents": was,
        "unit_price_cents": unit_price,
        "unit_measure": measure,
        "on_special": was is not None,
        "available": amount is not None and not req_bool(raw, "notForSale"),
        "url": _url(raw, sku),
        "image_url": _image(raw, sku),
    }


def _cents(price: dict[str, Any], key: str) -> int | None:
    value = price.get(key)
    if value is None:
        return None
    if type(value) is not int:
        fail(f"price.{key}", f"expected integer cents, got {value!r}")
    return value


def _was(price: dict[str, Any], amount: int | None) -> int | None:
    display = price.get("wasPriceDisplay")
    if not display:
        return None
    if type(display) is not str:
        fail("price.wasPriceDisplay", f"expected a string, got {display!r}")
    try:
        was = display_to_cents(display)
    except MoneyError as exc:
        fail("price.wasPriceDisplay", str(exc))
    return was if amount is not None and was != amount else None


def _comparison(price: dict[str, Any]) -> tuple[int | None, str | None]:
    cents = _cents(price, "comparison")
    display = price.get("comparisonDisplay")
    if cents is None or not display:
        return None, None
    if type(display) is not str:
        fail("price.comparisonDisplay", f"expected a string, got {display!r}")
    match = _PER.match(display)
    measure = normalise_measure(match.group(2)) if match else None
    if measure is None:
        fail("price.comparisonDisplay", f"unrecognised comparison {display!r}")
    return cents, measure


def _category_path(raw: dict[str, Any]) -> list[str]:
    categories = raw.get("categories") or []
    if type(categories) is not list:
        fail("categories", "expected a list")
    return [c["name"] for c in categories if type(c) is dict and type(c.get("name")) is str]


def _url(raw: dict[str, Any], sku: str) -> str:
    slug = opt_str(raw, "urlSlugText") or ""
    return f"{SITE}/product/{slug}-{sku}"


def _image(raw: dict[str, Any], sku: str) -> str | None:
    assets = raw.get("assets")
    if not assets or type(assets) is not list or type(assets[0]) is not dict:
        return None
    url = assets[0].get("url")
    if type(url) is not str:
        return None
    slug = opt_str(raw, "urlSlugText") or sku
    return url.replace("{width}", "500").replace("{slug}", slug)


def served_point(data: dict[str, Any], response: httpx.Response | None = None) -> str | None:
    """The service point a listing was served for: ``meta.servicePoint``, else the
    ``x-aldi-service-point`` header."""
    meta = data.get("meta")
    if type(meta) is dict and type(meta.get("servicePoint")) is str:
        return str(meta["servicePoint"])
    if response is not None:
        header: str | None = response.headers.get("x-aldi-service-point")
        return header
    return None


# --- categories and stores --------------------------------------------------------------


def parse_category_tree(data: Any) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = top_field(CHAIN, as_object(CHAIN, data), "data", list)
    for i, node in enumerate(nodes):
        _check_node(node, f"$.data[{i}]")
    return nodes


def _check_node(node: Any, path: str) -> None:
    node = as_object(CHAIN, node, path)
    for key in ("key", "name", "urlSlugText"):
        top_field(CHAIN, node, key, str, path)
    for j, child in enumerate(node.get("children") or []):
        _check_node(child, f"{path}.children[{j}]")


def tree_categories(nodes: list[dict[str, Any]], kind: ScrapeKind) -> list[Category]:
    """The top categories (a key lists everything below it), for full scrapes and spot
    checks alike: the tree gives no counts to choose a finer grain by, and a spot check
    pages only the first page of each category it samples (``spot_pages``), so every
    request it makes returns a full page however large or small the catalogue is."""
    return [Category(n["key"], n["name"]) for n in nodes]


def parse_service_points(data: Any) -> list[StoreRecord]:
    rows = top_field(CHAIN, as_object(CHAIN, data), "data", list)
    records = []
    for i, raw in enumerate(rows):
        try:
            records.append(_store_record(raw))
        except Exception as exc:  # a changed locator record is a shape change
            raise shape_error(CHAIN, f"$.data[{i}]", exc) from exc
    return records


def _store_record(raw: dict[str, Any]) -> StoreRecord:
    address = req_dict(raw, "address")
    street = " ".join(p for p in (opt_str(address, "address1"), opt_str(address, "address2")) if p)
    return StoreRecord(
        store_id=req_str(raw, "id"),
        name=req_str(raw, "name"),
        division="ALDI",
        address=street or None,
        suburb=opt_str(address, "city"),
        state=opt_str(address, "regionIsoCode"),
        postcode=opt_str(address, "zipCode"),
        latitude=coordinate(address.get("latitude")),
        longitude=coordinate(address.get("longitude")),
    )


def locator_grid(step: float) -> list[tuple[float, float]]:
    """Cell centres of a ``step``-degree grid over Australia: with 1° cells every point is
    within ~80 km of a centre, inside the locator's 100 km radius."""
    points = []
    latitude = -44.0 + step / 2
    while latitude < -10.0:
        longitude = 113.0 + step / 2
        while longitude < 154.0:
            points.append((round(latitude, 4), round(longitude, 4)))
            longitude += step
        latitude += step
    return points


# --- the adapter ------------------------------------------------------------------------


_BAD = frozenset({400})


class AldiAdapter(CatalogueAdapter):
    """Aldi: no session; the store (service point) is a query parameter.

    Aldi's range is national: the category tree names the same categories at every
    service point. One tree serves every scrape of this process for ``tree_ttl`` (0: ask
    for it every scrape), and is forgotten early when a listing refuses a category's
    first page (a stale tree, or a closed store; either way the next scrape asks again).
    The first page of each category tells how many products it lists; remembered, that
    lets a spot check widen into the categories that fill its pages."""

    company = "aldi"
    page_size = 30
    spot_pages = 1

    def __init__(
        self, http: RetailerHttp, grid_step: float = 1.0, tree_ttl: timedelta = timedelta(hours=1)
    ) -> None:
        super().__init__(http)
        self.grid_step = grid_step
        self.tree_ttl = tree_ttl
        self._tree: tuple[datetime, list[dict[str, Any]]] | None = None
        self._listed: dict[str, int] = {}

    def _session(self) -> RetailerSession:
        headers = {"Origin": SITE, "Referer": f"{SITE}/", "Accept": "application/json"}
        return self.http.session(headers=headers)

    async def discover_stores(self) -> StoreDiscovery:
        session = self._session()
        stores: dict[str, StoreRecord] = {}
        for latitude, longitude in locator_grid(self.grid_step):
            params = {"latitude": latitude, "longitude": longitude, "serviceType": "walk-in"}
            data, _ = await fetch_json(
                session, "GET", "/v2/service-points", "service points", params=params
            )
            for record in parse_service_points(data):
                stores.setdefault(record.store_id, record)
        return StoreDiscovery(
            company=self.company,
            stores=list(stores.values()),
            divisions=["ALDI"],
            complete=True,
            requests_made=session.requests_made,
            swept_at=clock.now(),
        )

    async def open_session(self, store: StoreTarget) -> RetailerSession:
        return self._session()

    async def categories(
        self, session: RetailerSession, store: StoreTarget, kind: ScrapeKind
    ) -> list[Category]:
        now = clock.now()
        if self._tree is not None and self._tree[0] <= now < self._tree[0] + self.tree_ttl:
            return tree_categories(self._tree[1], kind)
        params = {"serviceType": "walk-in", "servicePoint": store.store_id}
        data, response = await fetch_json(
            session, "GET", "/v2/product-category-tree", "tree", accept_status=_BAD, params=params
        )
        if data is None:
            raise StoreUnavailableError(CHAIN, store.store_id, response.text[:200])
        nodes = parse_category_tree(data)
        self._tree = (now, nodes)
        return tree_categories(nodes, kind)

    def category_hint(self, category: Category) -> int | None:
        return self._listed.get(category.key)

    async def fetch_page(
        self, session: RetailerSession, store: StoreTarget, category: Category, index: int
    ) -> ParsedPage | None:
        params = _search(store, category, index)
        data, response = await fetch_json(
            session, "GET", "/v3/product-search", "listing", accept_status=_BAD, params=params
        )
        if data is None and index > 0:
            # Aldi's way of saying "past the last page" (the total shrank meanwhile).
            return None
        if data is None:
            self._tree = None
            raise StoreUnavailableError(CHAIN, store.store_id, response.text[:200])
        page = parse_listing(data)
        page.served_store_id = served_point(data, response)
        if index == 0:
            self._listed[category.key] = page.total
        return page


def _search(store: StoreTarget, category: Category, index: int) -> dict[str, Any]:
    return {
        "currency": "AUD",
        "serviceType": "walk-in",
        "categoryKey": category.key,
        "limit": 30,
        "offset": index * 30,
        "sort": "relevance",
        "servicePoint": store.store_id,
    }
