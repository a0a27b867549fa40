"""IGA emulation: shop API (shopping-mode header, store cookie, repeating last page) and the
salefinder-style JSONP store locator."""

from __future__ import annotations

import html
import uuid
from typing import Any

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from splitcart_scraper.sandbox.catalogue import (
    KIND_EA,
    KIND_G,
    KIND_KG,
    KIND_ML,
    KIND_PACK,
    Catalogue,
    Node,
    unit_basis,
    unit_cents,
)
from splitcart_scraper.sandbox.common import (
    PriceFields,
    Sandbox,
    dollars,
    join_json,
    json_bytes_response,
    json_response,
    money,
    row_bytes,
    static_rows,
)
from splitcart_scraper.sandbox.geo import haversine_km
from splitcart_scraper.sandbox.world import PagePrices, Store

SHOPPING_MODE = "11111111-1111-1111-1111-111111111111"
STORE_COOKIE = "iga-shop.retailerStoreId"
PAGE_MAX = 36
LOCATOR_RADIUS_KM = 50.0
ROOT = "retailer-prod-v3"
_UNITS = {
    KIND_G: ("g", "Gram", "gram"),
    KIND_ML: ("ml", "Millilitre", "millilitre"),
    KIND_EA: ("ea", "Each", "each"),
    KIND_PACK: ("pk", "Pack", "pack"),
    KIND_KG: ("kg", "Kilogram", "kilogram"),
}


def routes(sandbox: Sandbox) -> list[BaseRoute]:
    emu = _Iga(sandbox)
    base = "/iga/api/storefront/stores/{rid}"
    return [
        Route(f"{base}/categoryHierarchy", emu.hierarchy, methods=["GET"]),
        Route(f"{base}/categories/{{identifier}}/search", emu.search, methods=["GET"]),
        Route("/iga-locator/location/storelocator/{retailer}/", emu.locator, methods=["GET"]),
        Route("/iga-locator/location/storelocator/{retailer}", emu.locator, methods=["GET"]),
    ]


def _bad(message: str, status: int = 400) -> Response:
    return json_response({"message": message}, status)


class _Iga:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self.chain = sandbox.world.chains["iga"]
        self.cat: Catalogue = self.chain.catalogue
        self.static = static_rows(self._static, self.cat.size)
        self.fields = PriceFields(self._dynamic)
        sandbox.static_caches.append(self.static)
        self.breadcrumbs = {n.index: self._crumbs(n) for n in self.cat.nodes}

    def _crumbs(self, node: Node) -> list[dict[str, str]]:
        chain = [node]
        while chain[-1].parent >= 0:
            chain.append(self.cat.nodes[chain[-1].parent])
        names, out = ["Grocery"], [_crumb("Grocery", "Grocery", "Grocery")]
        for n in reversed(chain):
            names.append(n.name)
            out.append(_crumb(n.name, "/".join(names), n.ext_id))
        return out

    def _store(self, request: Request) -> Store | Response:
        rid = request.path_params["rid"]
        if request.headers.get("x-shopping-mode") != SHOPPING_MODE:
            return _bad("x-shopping-mode header is required")
        if request.cookies.get(STORE_COOKIE) != rid:
            return _bad(f"cookie {STORE_COOKIE} must equal the store in the path")
        store = self.chain.by_id.get(rid)
        if store is None or store.retailer_store_id != rid or not store.is_open(self.sb.day()):
            return _bad("Store not found", 404)
        return store

    async def hierarchy(self, request: Request) -> Response:
        self.sb.counters.hit("iga", "category-hierarchy")
        store = self._store(request)
        if isinstance(store, Response):
            return store
        departments = [self._node(n) for n in self.cat.top_nodes()]
        grocery = {"identifier": "Grocery", "displayName": "Grocery", "children": departments}
        return json_response({"identifier": ROOT, "displayName": ROOT, "children": [grocery]})

    def _node(self, node: Node) -> dict[str, Any]:
        return {
            "identifier": node.ext_id,
            "displayName": node.name,
            "children": [self._node(self.cat.nodes[c]) for c in node.children],
        }

    async def search(self, request: Request) -> Response:
        self.sb.counters.hit("iga", "search")
        store = self._store(request)
        if isinstance(store, Response):
            return store
        q = request.query_params
        try:
            uuid.UUID(q.get("sessionId", ""))
            take = max(1, min(PAGE_MAX, int(q.get("take", PAGE_MAX))))
            skip = max(0, int(q.get("skip", 0)))
        except ValueError:
            return _bad("sessionId (UUID), take and skip are required")
        node = self.cat.by_ext_id.get(request.path_params["identifier"])
        if node is None:
            return _bad("Category not found", 404)
        day = self.sb.day()
        listed = self.sb.world.listed(store, node, day)
        total = len(listed)
        if total and skip >= total:
            skip = (total - 1) // take * take  # the API repeats its last page
        idx = listed[skip : skip + take]
        prices = self.sb.world.prices(store, idx, day).page()
        items = [
            row_bytes(self.fields.inner(i, k, prices), self.static[i])
            for k, i in enumerate(idx.tolist())
        ]
        items = self.sb.truncate("iga", items)
        tail = orjson.dumps({"total": total, "count": len(items)})
        return json_bytes_response(b'{"items":' + join_json(items) + b"," + tail[1:])

    def _dynamic(self, i: int, k: int, p: PagePrices) -> dict[str, Any]:
        kind, qty = int(self.cat.kind[i]), int(self.cat.size_qty[i])
        price, regular, special = int(p.price[k]), int(p.regular[k]), bool(p.on_special[k])
        row: dict[str, Any] = {
            "available": bool(p.available[k]),
            "price": money(price),
            "priceNumeric": dollars(price),
            "pricePerUnit": _per_unit(kind, qty, price),
            "priceSource": "tpr" if special else "regular",
            "tprPrice": [],
            "wholePrice": dollars(price),
        }
        if special:
            row.update(
                wasPrice=money(regular),
                wasWholePrice=dollars(regular),
                tprPrice=[{"label": "Special", "quantity": 1, "wholePrice": dollars(price)}],
            )
        return row

    def _static(self, i: int) -> dict[str, Any]:
        cat = self.cat
        kind, qty = int(cat.kind[i]), int(cat.size_qty[i])
        crumbs = self.breadcrumbs[int(cat.leaf[i])]
        sku = str(int(cat.sku[i]))
        return {
            "attributes": {},
            "barcode": f"{int(cat.barcode[i]):013d}",
            "brand": cat.brand[i],
            "categories": crumbs,
            "defaultCategory": [crumbs[-1]],
            "description": "",
            "image": {
                "cell": None,
                "default": None,
                "details": None,
                "template": None,
                "zoom": None,
            },
            "isFavorite": False,
            "isPastPurchased": False,
            "name": cat.name[i],
            "priceLabel": "",
            "productId": sku,
            "sellBy": "Weight" if kind == KIND_KG else "Each",
            "shoppingRuleMessages": None,
            "sku": sku,
            "unitOfMeasure": _unit(kind, _measure_size(kind, qty)),
            "unitOfPrice": {"abbreviation": "", "label": "Each", "size": 1, "type": "each"},
            "unitOfSize": _unit(kind, qty if kind != KIND_KG else 1),
            "weightIncrement": None,
        }

    async def locator(self, request: Request) -> Response:
        self.sb.counters.hit("iga", "storelocator")
        q = request.query_params
        try:
            location = int(q.get("locationId", "0"))
            limit = max(1, int(q.get("limit", "1500")))
        except ValueError:
            location, limit = 0, 1500
        records = self._nearby(location)[:limit]
        items = "".join(
            f'<div class="sf-storeitem" data-storedata="{html.escape(orjson.dumps(r).decode())}">'
            f"<h3>{html.escape(r['storeName'])}</h3></div>"
            for r in records
        )
        payload = orjson.dumps({"content": f'<div class="sf-storelist">{items}</div>'}).decode()
        callback = q.get("callback", "")
        return Response(f"{callback}({payload})", media_type="text/javascript")

    def _nearby(self, location: int) -> list[dict[str, Any]]:
        localities = self.sb.world.localities
        if not 1 <= location <= len(localities):
            return []
        loc = localities[location - 1]
        stores = self.sb.world.open_stores("iga", self.sb.day())
        if not stores:
            return []
        dist = haversine_km(
            loc.lat, loc.lng, np.array([s.lat for s in stores]), np.array([s.lng for s in stores])
        )
        hits = [
            (float(dist[j]), s)
            for j, s in enumerate(stores)
            if dist[j] <= LOCATOR_RADIUS_KM or s.locality.location_id == location
        ]
        hits.sort(key=lambda pair: pair[0])
        return [_store_record(s, d) for d, s in hits]


def _crumb(name: str, breadcrumb: str, retailer_id: str) -> dict[str, str]:
    return {
        "category": name,
        "categoryBreadcrumb": breadcrumb,
        "categoryId": str(uuid.uuid5(uuid.NAMESPACE_URL, breadcrumb)),
        "retailerId": retailer_id,
    }


def _measure_size(kind: int, qty: int) -> int:
    base, _ = unit_basis("iga", kind, qty)
    return 1 if kind == KIND_KG else base


def _unit(kind: int, size: int) -> dict[str, Any]:
    abbreviation, label, kind_name = _UNITS[kind]
    if size >= 1000 and kind in (KIND_G, KIND_ML):
        abbreviation, label, kind_name = (
            _UNITS[KIND_KG] if kind == KIND_G else ("l", "Litre", "litre")
        )
        size //= 1000
    return {"abbreviation": abbreviation, "label": label, "size": size, "type": kind_name}


def _per_unit(kind: int, qty: int, price: int) -> str:
    base, _ = unit_basis("iga", kind, qty)
    cents = unit_cents(kind, qty, base, price)
    if kind == KIND_G:
        label = "100g" if base == 100 else "kg"
    elif kind == KIND_ML:
        label = "100ml" if base == 100 else "l"
    else:
        label = "kg" if kind == KIND_KG else "ea"
    return f"{money(cents)}/{label}"


def _store_record(store: Store, distance: float) -> dict[str, Any]:
    lat, lng = ("0", "0") if store.coords_unknown else (f"{store.lat:.15f}", f"{store.lng:.15f}")
    return {
        "storeId": store.store_id,
        "retailerStoreId": store.retailer_store_id,
        "storeName": store.name,
        "address": f"{store.address}\r\n",
        "suburb": store.locality.suburb,
        "state": store.state,
        "postcode": f"{store.locality.postcode:04d}",
        "phone": store.phone,
        "fax": "",
        "hours": "",
        "hoursDay": "",
        "regionId": None,
        "latitude": lat,
        "longitude": lng,
        "locationNumber": str(store.locality.location_id),
        "saleGroupId": "0",
        "christmasHours": "",
        "christmasHoursDay": "",
        "updateTimeStamp": "2025-08-01 09:00:00",
        "postcodeId": str(store.locality.location_id),
        "storeUrl": "",
        "updated": "0",
        "onlineShopUrl": "",
        "ecommerceUrl": "",
        "distance": f"{distance:.2f}",
    }
