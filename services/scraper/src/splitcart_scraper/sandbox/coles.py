"""Coles emulation: Incapsula wall, Next.js data routes keyed by buildId, GraphQL."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from splitcart_scraper.sandbox.catalogue import (
    KIND_EA,
    KIND_KG,
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
    dollars,
    html_response,
    join_json,
    json_bytes_response,
    json_response,
    row_bytes,
    static_rows,
)
from splitcart_scraper.sandbox.geo import haversine_km
from splitcart_scraper.sandbox.world import PagePrices, Store

PAGE_SIZE = 48
MAX_STORES = 500
_BRANDS = {"COL": ("Coles Supermarkets", 2), "LQR": ("Liquorland", 3)}
_CHALLENGE = (
    '<html style="height:100%"><head><META NAME="robots" CONTENT="noindex,nofollow">'
    '<script src="/_Incapsula_Resource?SWJIYLWA=5074a744e2e3d891814e9a2dace20bd4"></script>'
    '</head><body style="margin:0px;height:100%"><iframe id="main-iframe" '
    'src="/_Incapsula_Resource?CWUDNSAI=9" frameborder=0 width="100%" height="100%">'
    "Request unsuccessful. Incapsula incident ID: 0-0</iframe></body></html>"
)


def routes(sandbox: Sandbox) -> list[BaseRoute]:
    emu = _Coles(sandbox)
    return [
        Route("/coles/", emu.home, methods=["GET"]),
        Route("/coles/browse", emu.home, methods=["GET"]),
        Route("/coles/_next/data/{build}/en/browse/{slug:path}", emu.browse, methods=["GET"]),
        Route("/coles/_next/data/{build}/en/product/{slug}", emu.product, methods=["GET"]),
        Route("/coles/api/graphql", emu.graphql, methods=["POST"]),
    ]


def build_id(seed: int) -> str:
    digest = hashlib.sha1(f"coles-build:{seed}".encode()).hexdigest()
    return f"20250901.1-{digest}"


def subscription_key(seed: int) -> str:
    return hashlib.md5(f"coles-key:{seed}".encode()).hexdigest()


def unblocked(request: Request) -> bool:
    names = [k for k, v in request.cookies.items() if v]
    return any(n.startswith("visid_incap_") for n in names) and any(
        n.startswith("incap_ses_") for n in names
    )


class _Coles:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self.chain = sandbox.world.chains["coles"]
        self.cat: Catalogue = self.chain.catalogue
        self.build = build_id(sandbox.world.seed)
        self.key = subscription_key(sandbox.world.seed)
        self.static = static_rows(self._static, self.cat.size)
        self.fields = PriceFields(self._dynamic)
        sandbox.static_caches.append(self.static)
        self.by_number = {s.number: s for s in self.chain.stores}
        self.by_slug = {self._slug_path(n): n.index for n in self.cat.nodes}

    def _slug_path(self, node: Node) -> str:
        parts = [node.slug]
        while node.parent >= 0:
            node = self.cat.nodes[node.parent]
            parts.append(node.slug)
        return "/".join(reversed(parts))

    def _served(self, request: Request) -> Store:
        default = self.chain.default_store
        assert default is not None
        raw = request.cookies.get("fulfillmentStoreId", "")
        store = self.by_number.get(int(raw)) if raw.isdigit() else None
        return store if store is not None and store.is_open(self.sb.day()) else default

    # --- pages ------------------------------------------------------------------------
    async def home(self, request: Request) -> Response:
        self.sb.counters.hit("coles", "home")
        if not unblocked(request):
            return html_response(_CHALLENGE)
        next_data = orjson.dumps(
            {
                "props": {"pageProps": {}},
                "page": "/",
                "query": {},
                "buildId": self.build,
                "isFallback": False,
                "gssp": True,
            }
        ).decode()
        config = orjson.dumps(
            {"BFF_API_SUBSCRIPTION_KEY": self.key, "ENVIRONMENT": "sandbox"}
        ).decode()
        return html_response(
            "<!DOCTYPE html><html><head><title>Coles Online</title>"
            f"<script>window.__RUNTIME_CONFIG__ = {config};</script></head><body>"
            f'<div id="__next"></div><script id="__NEXT_DATA__" type="application/json">'
            f"{next_data}</script></body></html>"
        )

    async def browse(self, request: Request) -> Response:
        self.sb.counters.hit("coles", "browse")
        if not unblocked(request):
            return html_response(_CHALLENGE)
        slug = request.path_params["slug"]
        node = self.by_slug.get(slug.removesuffix(".json"))
        if request.path_params["build"] != self.build or node is None or not slug.endswith(".json"):
            return html_response(
                "<html><body><h1>404</h1>This page could not be found.</body></html>", status=404
            )
        try:
            page = max(1, int(request.query_params.get("page", "1")))
        except ValueError:
            page = 1
        store = self.sb.mismatch("coles", self._served(request))
        return json_bytes_response(self._browse_page(store, node, page))

    def _browse_page(self, store: Store, node: int, page: int) -> bytes:
        day = self.sb.day()
        listed = self.sb.world.listed(store, node, day)
        start = (page - 1) * PAGE_SIZE
        idx = listed[start : start + PAGE_SIZE]
        prices = self.sb.world.prices(store, idx, day).page()
        rows = [
            row_bytes(self.fields.inner(i, k, prices), self.static[i])
            for k, i in enumerate(idx.tolist())
        ]
        rows = self.sb.truncate("coles", rows)
        if rows and page % 2 == 1:
            rows.insert(min(3, len(rows)), orjson.dumps(_ad_tile(node, page)))
        results = orjson.dumps(
            {
                "didYouMean": None,
                "noOfResults": len(listed),
                "start": start,
                "pageSize": PAGE_SIZE,
                "keyword": "",
                "resultType": 1,
                "catalogGroupView": [],
                "excludedCatalogGroupView": [],
            }
        )
        props = orjson.dumps(
            {
                "initStoreId": f"{store.number:04d}",
                "assetsUrl": "https://shop.coles.com.au",
                "isFromGoogleAdSource": False,
            }
        )
        search = results[:-1] + b',"results":' + join_json(rows) + b"}"
        return b'{"pageProps":' + props[:-1] + b',"searchResults":' + search + b'},"__N_SSP":true}'

    def _dynamic(self, i: int, k: int, p: PagePrices) -> dict[str, Any]:
        kind, qty = int(self.cat.kind[i]), int(self.cat.size_qty[i])
        return {
            "availability": bool(p.available[k]),
            "pricing": _pricing(
                kind, qty, int(p.price[k]), int(p.regular[k]), bool(p.on_special[k])
            ),
        }

    def _row(self, i: int, k: int, p: PagePrices) -> dict[str, Any]:
        return {**self._static(i), **self._dynamic(i, k, p)}

    def _static(self, i: int) -> dict[str, Any]:
        cat = self.cat
        name = cat.name[i]
        brand = cat.brand[i]
        short = name.removeprefix(brand).strip()
        kind, qty = int(cat.kind[i]), int(cat.size_qty[i])
        path = cat.path(i)
        return {
            "_type": "PRODUCT",
            "id": int(cat.sku[i]),
            "adId": None,
            "adSource": None,
            "featured": False,
            "name": short,
            "brand": brand,
            "description": f"{name} {size_label(kind, qty)}".upper(),
            "size": size_label(kind, qty),
            "availabilityType": "InStoreAndOnline",
            "imageUris": [
                {"altText": "", "type": "default", "uri": f"/{cat.sku[i] % 10}/{cat.sku[i]}.jpg"}
            ],
            "locations": [],
            "restrictions": {
                "retailLimit": 20,
                "promotionalLimit": 12,
                "liquorAgeRestrictionFlag": False,
                "tobaccoAgeRestrictionFlag": False,
                "restrictedByOrganisation": False,
            },
            "merchandiseHeir": {
                "tradeProfitCentre": path[0].name.upper(),
                "categoryGroup": path[1].name.upper(),
                "category": path[1].name.upper(),
                "subCategory": path[2].name.upper(),
                "className": "STANDARD",
            },
            "onlineHeirs": [_heir(path)],
        }

    async def product(self, request: Request) -> Response:
        self.sb.counters.hit("coles", "product")
        if not unblocked(request):
            return html_response(_CHALLENGE)
        slug: str = request.path_params["slug"]
        tail = slug.removesuffix(".json").rsplit("-", 1)[-1]
        i = self.cat.sku_index.get(int(tail)) if tail.isdigit() else None
        if request.path_params["build"] != self.build or i is None or not slug.endswith(".json"):
            return html_response("<html><body><h1>404</h1></body></html>", status=404)
        store = self._served(request)
        day = self.sb.day()
        prices = self.sb.world.prices(store, np.array([i], dtype=np.int64), day).page()
        product = self._row(i, 0, prices)
        product.pop("_type")
        product.update(
            gtin=f"{int(self.cat.barcode[i]):013d}",
            lastUpdated=self.sb.world.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            brandDetails={"name": self.cat.brand[i], "seoToken": slugify(self.cat.brand[i])},
            variations=None,
        )
        return json_response(
            {
                "pageProps": {
                    "initStoreId": f"{store.number:04d}",
                    "assetsUrl": "https://shop.coles.com.au",
                    "product": product,
                    "isRestricted": False,
                },
                "__N_SSP": True,
            }
        )

    # --- GraphQL ----------------------------------------------------------------------
    async def graphql(self, request: Request) -> Response:
        if not unblocked(request):
            self.sb.counters.hit("coles", "graphql")
            return html_response(_CHALLENGE)
        try:
            body = orjson.loads(await request.body())
            operation = str(body.get("operationName", ""))
            variables = body.get("variables") or {}
        except (orjson.JSONDecodeError, AttributeError):
            self.sb.counters.hit("coles", "graphql")
            return json_response({"errors": [{"message": "Invalid JSON body"}]}, 400)
        self.sb.counters.hit("coles", f"graphql:{operation or 'unknown'}")
        if request.headers.get("ocp-apim-subscription-key") != self.key:
            return json_response(
                {
                    "statusCode": 401,
                    "message": "Access denied due to missing or invalid subscription key.",
                },
                401,
            )
        if operation == "GetShopProductsMenu":
            return json_response(self._menu(request))
        if operation == "GetStores":
            return self._get_stores(variables)
        return json_response({"errors": [{"message": f"Unknown operation {operation!r}"}]}, 400)

    def _menu(self, request: Request) -> dict[str, Any]:
        store = self._served(request)
        day = self.sb.day()
        items = [self._menu_item(store, n, day) for n in self.cat.top_nodes()]
        return {
            "data": {
                "menuItems": {"restrictedIds": [], "items": items},
                "promoTiles": {"results": []},
            }
        }

    def _menu_item(self, store: Store, node: Node, day: int) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": node.ext_id,
            "level": node.level,
            "name": node.name,
            "originalName": node.name,
            "productCount": len(self.sb.world.listed(store, node.index, day)),
            "seoToken": node.slug,
            "type": "CATALOG",
            "subType": "CORE",
        }
        if not node.is_leaf:
            item["childItems"] = [
                self._menu_item(store, self.cat.nodes[c], day) for c in node.children
            ]
        return item

    def _get_stores(self, variables: dict[str, Any]) -> Response:
        try:
            lat = float(variables["latitude"])
            lng = float(variables["longitude"])
            count = max(1, min(MAX_STORES, int(variables.get("numberOfStores", 10))))
            brands = set(variables.get("brandIds") or ["COL"])
        except (KeyError, TypeError, ValueError):
            return json_response(
                {"errors": [{"message": "latitude and longitude are required"}]}, 400
            )
        day = self.sb.day()
        pool = [s for s in self.chain.stores if s.is_open(day) and s.division in brands]
        if not pool:
            return json_response({"data": {"stores": {"totalCount": 0, "results": []}}})
        dist = haversine_km(
            lat, lng, np.array([s.lat for s in pool]), np.array([s.lng for s in pool])
        )
        order = np.argsort(dist, kind="stable")[:count]
        results = [
            {"distance": round(float(dist[j]), 2), "store": _store_record(pool[int(j)])}
            for j in order
        ]
        return json_response({"data": {"stores": {"totalCount": len(results), "results": results}}})


def _heir(path: list[Node]) -> dict[str, str]:
    top, mid, leaf = path
    return {
        "aisle": leaf.name,
        "category": mid.name,
        "subCategory": top.name,
        "categoryId": mid.ext_id,
        "aisleId": leaf.ext_id,
        "subCategoryId": top.ext_id,
    }


def _pricing(kind: int, qty: int, price: int, regular: int, special: bool) -> dict[str, Any]:
    base, measure = unit_basis("coles", kind, qty)
    unit = dollars(unit_cents(kind, qty, base, price))
    shown = f"1{measure}"
    out: dict[str, Any] = {
        "now": dollars(price),
        "was": dollars(regular) if special else 0,
        "unit": {
            "quantity": qty if kind != KIND_EA else 1,
            "ofMeasureQuantity": 1,
            "ofMeasureUnits": measure,
            "price": unit,
            "ofMeasureType": measure,
            "isWeighted": kind == KIND_KG,
            "isIncremental": False,
        },
        "comparable": f"${unit:.2f} per {shown}",
        "onlineSpecial": False,
    }
    if special:
        out.update(
            saveAmount=dollars(regular - price),
            saveStatement=f"save ${dollars(regular - price):.2f}",
            promotionType="SPECIAL",
        )
    return out


def _ad_tile(node: int, page: int) -> dict[str, Any]:
    return {
        "_type": "SINGLE_TILE",
        "adId": f"Campaign_Aisle_Tile_{node}_{page}",
        "adSource": "aem",
        "campaignName": "/content/dam/coles/sandbox/campaign-tile",
        "expiry": None,
        "headingText": None,
        "bannerText": "Shop the range",
        "ctaText": "Shop now",
        "ctaLink": "/offers/sandbox",
        "backgroundImage": None,
        "heroImage": None,
        "productIds": [],
        "additionalFields": [],
    }


def _store_record(store: Store) -> dict[str, Any]:
    brand_name, finder = _BRANDS[store.division]
    return {
        "id": store.store_id,
        "name": store.name,
        "phone": store.phone,
        "isTrading": True,
        "address": {
            "state": store.state,
            "suburb": store.locality.suburb,
            "addressLine": store.address,
            "postcode": f"{store.locality.postcode:04d}",
        },
        "position": {"latitude": store.lat, "longitude": store.lng},
        "brand": {"name": brand_name, "storeFinderId": finder, "id": store.division},
    }
