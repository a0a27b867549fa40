"""Aldi emulation: open API host, prices in cents, 400 past the last page, radius locator."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from splitcart_scraper.sandbox.catalogue import (
    Catalogue,
    Node,
    size_label,
    slugify,
    unit_basis,
    unit_cents,
)
from splitcart_scraper.sandbox.common import (
    PriceFields,
    Sandbox,
    join_json,
    json_bytes_response,
    json_response,
    money,
    row_bytes,
    static_rows,
)
from splitcart_scraper.sandbox.geo import STATE_BY_CODE, haversine_km
from splitcart_scraper.sandbox.world import PagePrices, Store

PAGE_MAX = 30
RADIUS_KM = 100.0
SERVED_HEADER = "x-aldi-service-point"
_ASSET = "https://dm.apac.cms.aldi.cx/is/image/aldiprodapac/product/jpg/scaleWidth/{width}/"


def routes(sandbox: Sandbox) -> list[BaseRoute]:
    emu = _Aldi(sandbox)
    return [
        Route("/aldi/v2/product-category-tree", emu.tree, methods=["GET"]),
        Route("/aldi/v3/product-search", emu.search, methods=["GET"]),
        Route("/aldi/v2/service-points", emu.service_points, methods=["GET"]),
    ]


def _error(status: int, code: str, message: str) -> Response:
    return json_response({"errors": [{"code": code, "message": message}]}, status)


class _Aldi:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self.chain = sandbox.world.chains["aldi"]
        self.cat: Catalogue = self.chain.catalogue
        self.static = static_rows(self._static, self.cat.size)
        self.fields = PriceFields(self._dynamic)
        sandbox.static_caches.append(self.static)

    def _store(self, request: Request) -> Store | None:
        store = self.chain.by_id.get(request.query_params.get("servicePoint", ""))
        return store if store is not None and store.is_open(self.sb.day()) else None

    async def tree(self, request: Request) -> Response:
        self.sb.counters.hit("aldi", "product-category-tree")
        return json_response({"data": [self._node(n, "") for n in self.cat.top_nodes()]})

    def _node(self, node: Node, prefix: str) -> dict[str, Any]:
        slug = f"{prefix}/{node.slug}" if prefix else node.slug
        return {
            "id": node.ext_id,
            "key": node.ext_id,
            "name": node.name,
            "urlSlugText": slug,
            "children": [self._node(self.cat.nodes[c], slug) for c in node.children],
        }

    async def search(self, request: Request) -> Response:
        self.sb.counters.hit("aldi", "product-search")
        q = request.query_params
        store = self._store(request)
        if store is None:
            return _error(400, "INVALID_SERVICE_POINT", "servicePoint is missing or unknown")
        node = self.cat.by_ext_id.get(q.get("categoryKey", ""))
        try:
            limit = max(1, min(PAGE_MAX, int(q.get("limit", PAGE_MAX))))
            offset = max(0, int(q.get("offset", 0)))
        except ValueError:
            return _error(400, "INVALID_PARAMETER", "limit and offset must be integers")
        if node is None:
            return _error(400, "INVALID_CATEGORY", "categoryKey is unknown")
        store = self.sb.mismatch("aldi", store)
        day = self.sb.day()
        listed = self.sb.world.listed(store, node, day)
        if offset > 0 and offset >= len(listed):
            return _error(400, "OFFSET_OUT_OF_RANGE", "offset is beyond the last page")
        idx = listed[offset : offset + limit]
        prices = self.sb.world.prices(store, idx, day).page()
        rows = [
            row_bytes(self.fields.inner(i, k, prices), self.static[i])
            for k, i in enumerate(idx.tolist())
        ]
        rows = self.sb.truncate("aldi", rows)
        meta = orjson.dumps(
            {
                "pagination": {"offset": offset, "limit": limit, "totalCount": len(listed)},
                "servicePoint": store.store_id,
                "spellingSuggestion": None,
                "keywordRedirect": None,
            }
        )
        body = b'{"meta":' + meta + b',"data":' + join_json(rows) + b"}"
        return json_bytes_response(body, headers={SERVED_HEADER: store.store_id})

    def _dynamic(self, i: int, k: int, p: PagePrices) -> dict[str, Any]:
        kind, qty = int(self.cat.kind[i]), int(self.cat.size_qty[i])
        price = int(p.price[k])
        base, measure = unit_basis("aldi", kind, qty)
        comparison = unit_cents(kind, qty, base, price)
        return {
            "notForSale": not bool(p.available[k]),
            "price": {
                "amount": price,
                "amountRelevant": price,
                "amountRelevantDisplay": money(price),
                "bottleDeposit": 0,
                "bottleDepositDisplay": "$0.00",
                "comparison": comparison,
                "comparisonDisplay": f"{money(comparison)} per {measure}",
                "currencyCode": "AUD",
                "currencySymbol": "$",
                "perUnit": None,
                "perUnitDisplay": None,
                "wasPriceDisplay": money(int(p.regular[k])) if p.on_special[k] else None,
                "additionalInfo": None,
            },
        }

    def _static(self, i: int) -> dict[str, Any]:
        cat = self.cat
        kind, qty = int(cat.kind[i]), int(cat.size_qty[i])
        size = size_label(kind, qty, spaced=True)
        name = f"{cat.name[i].removeprefix(cat.brand[i]).strip()} {size}"
        path = cat.path(i)
        return {
            "sku": f"{int(cat.sku[i]):018d}",
            "name": name,
            "brandName": cat.brand[i].upper(),
            "urlSlugText": slugify(f"{cat.brand[i]} {name}"),
            "ageRestriction": None,
            "alcohol": None,
            "discontinued": False,
            "discontinuedNote": None,
            "notForSaleReason": None,
            "quantityMin": 1,
            "quantityMax": 99,
            "quantityInterval": 1,
            "quantityDefault": 1,
            "quantityUnit": "ea",
            "weightType": "0",
            "sellingSize": size,
            "energyClass": None,
            "onSaleDateDisplay": None,
            "countryExtensions": None,
            "categories": _categories(path),
            "assets": [
                {
                    "url": f"{_ASSET}{int(cat.sku[i]):018d}/{{slug}}",
                    "maxWidth": 1500,
                    "maxHeight": 1500,
                    "mimeType": "image/*",
                    "assetType": "FR01",
                    "alt": None,
                    "displayName": None,
                }
            ],
            "badges": [],
        }

    async def service_points(self, request: Request) -> Response:
        self.sb.counters.hit("aldi", "service-points")
        try:
            lat = float(request.query_params["latitude"])
            lng = float(request.query_params["longitude"])
        except (KeyError, ValueError):
            return _error(400, "INVALID_PARAMETER", "latitude and longitude are required")
        pool = self.sb.world.open_stores("aldi", self.sb.day())
        if not pool:
            return json_response({"data": []})
        dist = haversine_km(
            lat, lng, np.array([s.lat for s in pool]), np.array([s.lng for s in pool])
        )
        order = [int(j) for j in np.argsort(dist, kind="stable") if dist[j] <= RADIUS_KM]
        return json_response({"data": [_store_record(pool[j], float(dist[j])) for j in order]})


def _categories(path: list[Node]) -> list[dict[str, str]]:
    out, slug = [], ""
    for node in path:
        slug = f"{slug}/{node.slug}" if slug else node.slug
        out.append({"id": node.ext_id, "name": node.name, "urlSlugText": slug})
    return out


def _store_record(store: Store, distance: float) -> dict[str, Any]:
    state = STATE_BY_CODE[store.state]
    return {
        "name": store.name,
        "alcoholAvailability": [],
        "publicPhoneNumber": None,
        "facilities": [],
        "address": {
            "countryName": "Australia",
            "countryIsoCode": "AU",
            "regionName": state.name,
            "regionIsoCode": state.code,
            "address1": store.address,
            "address2": None,
            "address3": None,
            "city": store.locality.suburb,
            "zipCode": f"{store.locality.postcode:04d}",
            "district": store.locality.suburb,
            "latitude": f"{store.lat:.14f}",
            "longitude": f"{store.lng:.14f}",
        },
        "id": store.store_id,
        "availableCustomerServiceTypes": ["pickup", "walk-in"],
        "distance": f"{distance:.1f} km",
        "geofencing": {"enabled": False, "geofences": {"inner": 5, "outer": 10}},
        "isOpenNow": True,
    }
