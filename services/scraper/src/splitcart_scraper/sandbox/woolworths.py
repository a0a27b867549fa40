"""Woolworths emulation: Akamai-style warm-up cookie, login-gated store choice, browse API."""

from __future__ import annotations

import secrets
from typing import Any

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from splitcart_scraper.sandbox.catalogue import (
    KIND_KG,
    Catalogue,
    Node,
    size_label,
    slugify,
    unit_basis,
    unit_cents,
)
from splitcart_scraper.sandbox.common import (
    LazyBytes,
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
from splitcart_scraper.sandbox.hashing import TAG_SPONSOR, uniform
from splitcart_scraper.sandbox.world import PagePrices, Store

SESSION_COOKIE = "wow-session"
LOGIN_COOKIE = "w-auth"
PAGE_MAX = 36
NODE_CAP = 10_000
CDN = "https://cdn1.woolworths.media/content/wowproductimages"
_NULL_TAG = {
    "TagContent": None,
    "TagLink": None,
    "FallbackText": None,
    "TagType": "None",
    "MultibuyData": None,
    "MemberPriceData": None,
    "FFPVMemberPriceData": None,
    "TagContentText": None,
    "DualImageTagContent": None,
    "PromotionType": "NOT_SET",
    "IsRegisteredRewardCardPromotion": False,
}
_RATING = {
    k: 0
    for k in (
        "ReviewCount",
        "RatingCount",
        "RatingSum",
        "OneStarCount",
        "TwoStarCount",
        "ThreeStarCount",
        "FourStarCount",
        "FiveStarCount",
        "Average",
        "OneStarPercentage",
        "TwoStarPercentage",
        "ThreeStarPercentage",
        "FourStarPercentage",
        "FiveStarPercentage",
    )
}
# Fields that never vary in the sandbox, in the capture's order of appearance.
_CONSTANT: dict[str, Any] = {
    "TileID": 0,
    "GtinFormat": 13,
    "IncrementalPrice": None,
    "IncrementalWasPrice": None,
    "IncrementalMinimumQuantity": None,
    "IncrementalMinimumQuantityUnit": "g",
    "PricePerKGLabel": None,
    "MinWeightPrice": None,
    "MaxWeightPrice": None,
    "IsNew": False,
    "IsOnlineOnly": False,
    "IsEdrSpecial": False,
    "QuantityInTrolley": 0,
    "MinimumQuantity": 1,
    "HasBeenBoughtBefore": False,
    "IsInTrolley": False,
    "SupplyLimit": 36,
    "ProductLimit": 36,
    "MaxSupplyLimitMessage": "36 item limit",
    "IsRanged": True,
    "IsPmDelivery": False,
    "IsForCollection": True,
    "IsForDelivery": True,
    "IsForExpress": True,
    "ProductRestrictionMessage": None,
    "ProductWarningMessage": None,
    "CentreTag": _NULL_TAG,
    "IsCentreTag": False,
    "ImageTag": _NULL_TAG,
    "HeaderTag": None,
    "HasHeaderTag": False,
    "UnitWeightInGrams": 0,
    "AgeRestricted": False,
    "DisplayQuantity": 1,
    "RichDescription": None,
    "HideWasSavedPrice": False,
    "SapCategories": None,
    "IsRestrictedByDeliveryMethod": False,
    "FooterTag": _NULL_TAG,
    "IsFooterEnabled": False,
    "Diagnostics": "0",
    "IsBundle": False,
    "IsInFamily": False,
    "ChildProducts": None,
    "UrlOverride": None,
    "Variety": None,
    "Rating": _RATING,
    "HasProductSubs": False,
    "IsGiftable": False,
    "Untraceable": False,
    "ThirdPartyProductInfo": None,
    "MarketFeatures": None,
    "MarketSpecifications": None,
    "SupplyLimitSource": "ProductLimit",
    "Tags": [],
    "IsPersonalisedByPurchaseHistory": False,
    "IsFromFacetedSearch": False,
    "NextAvailabilityDate": "2025-09-01T00:00:00.0000000Z",
    "NumberOfSubstitutes": 0,
    "IsPrimaryVariant": False,
    "VariantGroupId": 0,
    "HasVariants": False,
    "VariantTitle": None,
    "IsTobacco": False,
    "IsB2BExtendedRangeSapCategory": False,
    "IsFreeShipping": None,
    "B2BExtendedRange": None,
    "OfferId": None,
    "BundleProductGroups": None,
}
_NOT_AN_AD = b'"IsSponsoredAd":false,"AdID":null,"AdIndex":null,"AdStatus":null,'
_PSEUDO_NODES = (
    ("1_SPECIALS", "Specials", "specials-group-specials"),
    ("1_EVERYDAYMARKET", "Everyday Market", "everyday-market"),
    ("1_FRONTOFSTORE", "Front of Store", "front-of-store"),
)
_HOME = (
    '<!DOCTYPE html><html lang="en"><head><title>Woolworths Supermarket - Buy Groceries '
    'Online</title></head><body><div id="wx-app">Woolworths (sandbox)</div></body></html>'
)


def routes(sandbox: Sandbox) -> list[BaseRoute]:
    emu = _Woolworths(sandbox)
    return [
        Route("/woolworths/", emu.home, methods=["GET"]),
        Route("/woolworths/apis/ui/PiesCategoriesWithSpecials", emu.categories, methods=["GET"]),
        Route("/woolworths/apis/ui/browse/category", emu.browse, methods=["POST"]),
        Route("/woolworths/apis/ui/Fulfilment", emu.fulfilment, methods=["POST"]),
        Route("/woolworths/apis/ui/StoreLocator/Stores", emu.stores, methods=["GET"]),
    ]


class _Woolworths:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self.chain = sandbox.world.chains["woolworths"]
        self.cat: Catalogue = self.chain.catalogue
        self.static = static_rows(self._static, self.cat.size)
        self.fields = PriceFields(self._dynamic)
        sandbox.static_caches.append(self.static)
        self.tails = LazyBytes(self._tail, self.cat.size)
        sandbox.static_caches.append(self.tails)

    # --- session ----------------------------------------------------------------------
    async def home(self, request: Request) -> Response:
        self.sb.counters.hit("woolworths", "home")
        response = html_response(_HOME)
        if not request.cookies.get(SESSION_COOKIE):
            response.set_cookie(SESSION_COOKIE, secrets.token_hex(16), path="/", httponly=True)
        return response

    def _session(self, request: Request) -> str | None:
        return request.cookies.get(SESSION_COOKIE) or None

    def _served(self, request: Request, session: str) -> Store:
        default = self.chain.default_store
        assert default is not None
        if not request.cookies.get(LOGIN_COOKIE):
            return default
        number = self.sb.woolworths_sessions.get(session)
        store = self.chain.by_id.get(str(number)) if number else None
        return store if store is not None and store.is_open(self.sb.day()) else default

    @staticmethod
    def _denied() -> Response:
        return html_response(
            "<html><head><title>Access Denied</title></head><body><h1>Access "
            "Denied</h1>You don't have permission to access this resource."
            "</body></html>",
            status=403,
        )

    async def fulfilment(self, request: Request) -> Response:
        self.sb.counters.hit("woolworths", "fulfilment")
        session = self._session(request)
        if session is None:
            return self._denied()
        if not request.cookies.get(LOGIN_COOKIE):
            return json_response(
                {"IsSuccessful": False, "ErrorMessage": "You must be logged in to choose a store"},
                401,
            )
        try:
            body = orjson.loads(await request.body())
            number = int(body["fulfilmentStoreId"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return json_response(
                {"IsSuccessful": False, "ErrorMessage": "fulfilmentStoreId (int) is required"}, 400
            )
        store = self.chain.by_id.get(str(number))
        if store is None or not store.is_open(self.sb.day()):
            return json_response({"IsSuccessful": False, "ErrorMessage": "Unknown store"}, 400)
        self.sb.woolworths_sessions[session] = number
        return json_response(
            {
                "IsSuccessful": True,
                "FulfilmentStoreId": number,
                "FulfilmentMethod": body.get("fulfilmentMethod", "Pickup"),
            }
        )

    # --- categories -------------------------------------------------------------------
    async def categories(self, request: Request) -> Response:
        self.sb.counters.hit("woolworths", "categories")
        session = self._session(request)
        if session is None:
            return self._denied()
        store = self._served(request, session)
        day = self.sb.day()
        nodes = [self._node(store, n, day) for n in self.cat.top_nodes()]
        nodes += [self._pseudo(i, *p) for i, p in enumerate(_PSEUDO_NODES)]
        return json_response({"Categories": nodes})

    def _node(self, store: Store, node: Node, day: int) -> dict[str, Any]:
        parent = self.cat.nodes[node.parent].ext_id if node.parent >= 0 else None
        return {
            "NodeId": node.ext_id,
            "Description": node.name,
            "NodeLevel": node.level,
            "ParentNodeId": parent,
            "DisplayOrder": node.index,
            "IsRestricted": False,
            "ProductCount": len(self.sb.world.listed(store, node.index, day)),
            "IsSortEnabled": True,
            "IsPaginationEnabled": True,
            "UrlFriendlyName": node.slug,
            "IsSpecial": False,
            "RichRelevanceId": None,
            "IsBundle": False,
            "Children": [self._node(store, self.cat.nodes[c], day) for c in node.children],
        }

    @staticmethod
    def _pseudo(order: int, node_id: str, name: str, slug: str) -> dict[str, Any]:
        return {
            "NodeId": node_id,
            "Description": name,
            "NodeLevel": 1,
            "ParentNodeId": None,
            "DisplayOrder": 1000 + order,
            "IsRestricted": False,
            "ProductCount": 0,
            "IsSortEnabled": True,
            "IsPaginationEnabled": True,
            "UrlFriendlyName": slug,
            "IsSpecial": node_id.endswith("_SPECIALS"),
            "RichRelevanceId": None,
            "IsBundle": False,
            "Children": [],
        }

    # --- browse -----------------------------------------------------------------------
    async def browse(self, request: Request) -> Response:
        self.sb.counters.hit("woolworths", "browse")
        session = self._session(request)
        if session is None:
            return self._denied()
        try:
            body = orjson.loads(await request.body())
            node_id = str(body["categoryId"])
            page = max(1, int(body.get("pageNumber", 1)))
            size = max(1, min(PAGE_MAX, int(body.get("pageSize", PAGE_MAX))))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return json_response({"Success": False, "Message": "Invalid request body"}, 400)
        if node_id in {p[0] for p in _PSEUDO_NODES}:
            return json_bytes_response(self._page([], 0))
        node = self.cat.by_ext_id.get(node_id)
        if node is None:
            return json_response({"Success": False, "Message": f"Unknown category {node_id}"}, 400)
        store = self.sb.mismatch("woolworths", self._served(request, session))
        return json_bytes_response(self._browse_page(store, node, page, size))

    def _browse_page(self, store: Store, node: int, page: int, size: int) -> bytes:
        day = self.sb.day()
        listed = self.sb.world.listed(store, node, day)
        start = (page - 1) * size
        idx = listed[:NODE_CAP][start : start + size]
        rows = self.sb.truncate("woolworths", self._rows(store, idx, day))
        ads = self._sponsored(store, listed, node, page, day, past_end=len(idx) == 0)
        rows[min(2, len(rows)) : min(2, len(rows))] = ads
        return self._page(rows, len(listed))

    @staticmethod
    @staticmethod
    def _page(rows: list[bytes], total: int) -> bytes:
        tail = orjson.dumps(
            {"TotalRecordCount": total, "Success": True, "Aggregations": [], "SeoMetaTags": None}
        )
        return b'{"Bundles":' + join_json(rows) + b"," + tail[1:]

    def _sponsored(
        self, store: Store, listed: np.ndarray, node: int, page: int, day: int, past_end: bool
    ) -> list[bytes]:
        if len(listed) == 0:
            return []
        u = uniform(store.key, TAG_SPONSOR, node, page, day)
        count = 3 if past_end else int(u[0] < 0.5)
        if count == 0:
            return []
        picks = listed[
            (uniform(node, page, TAG_SPONSOR, np.arange(count)) * len(listed)).astype(np.int64)
        ]
        return self._rows(store, picks, day, sponsored=f"ad-{node}-{page}")

    def _rows(self, store: Store, idx: np.ndarray, day: int, sponsored: str = "") -> list[bytes]:
        prices = self.sb.world.prices(store, idx, day).page()
        served = b'"FulfilmentStoreId":%d,' % store.number
        out = []
        for k, i in enumerate(idx.tolist()):
            ad = (
                _NOT_AN_AD
                if not sponsored
                else orjson.dumps(
                    {
                        "IsSponsoredAd": True,
                        "AdID": f"{sponsored}-{k}",
                        "AdIndex": k,
                        "AdStatus": "Active",
                    }
                )[1:-1]
                + b","
            )
            members = served + ad + self.fields.inner(i, k, prices)
            out.append(b'{"Products":[' + row_bytes(members, self.static[i]) + self.tails[i])
        return out

    def _tail(self, i: int) -> bytes:
        name = self.cat.name[i]
        display = f"{name} {size_label(int(self.cat.kind[i]), int(self.cat.size_qty[i]))}"
        return b'],"Name":' + orjson.dumps(name) + b',"DisplayName":' + orjson.dumps(display) + b"}"

    def _dynamic(self, i: int, k: int, p: PagePrices) -> dict[str, Any]:
        available = bool(p.available[k])
        price_c = int(p.price[k])
        special = bool(p.on_special[k])
        was_c = int(p.regular[k]) if special else price_c
        kind, qty = int(self.cat.kind[i]), int(self.cat.size_qty[i])
        base, measure = unit_basis("woolworths", kind, qty)
        cup = dollars(unit_cents(kind, qty, base, price_c))
        cup_string = f"${cup:.2f} / {measure}"
        return {
            "CupPrice": cup if available else None,
            "InstoreCupPrice": cup,
            "CupString": cup_string,
            "InstoreCupString": cup_string,
            "HasCupPrice": available,
            "Price": dollars(price_c) if available else None,
            "InstorePrice": dollars(price_c),
            "IsHalfPrice": special and was_c >= 2 * price_c - 1,
            "IsOnSpecial": special,
            "InstoreIsOnSpecial": special,
            "SavingsAmount": dollars(was_c - price_c),
            "InstoreSavingsAmount": dollars(was_c - price_c),
            "WasPrice": dollars(was_c) if available else None,
            "InstoreWasPrice": dollars(was_c),
            "IsInStock": available,
            "IsAvailable": available,
            "InstoreIsAvailable": available,
            "IsPurchasable": available,
            "InstoreIsPurchasable": available,
        }

    def _static(self, i: int) -> dict[str, Any]:
        cat = self.cat
        kind, qty = int(cat.kind[i]), int(cat.size_qty[i])
        stock = int(cat.sku[i])
        name = cat.name[i]
        pack = size_label(kind, qty)
        path = cat.path(i)
        row = dict(_CONSTANT)
        row.update(
            {
                "Stockcode": stock,
                "Barcode": f"{int(cat.barcode[i]):013d}",
                "CupMeasure": unit_basis("woolworths", kind, qty)[1],
                "Name": name,
                "DisplayName": f"{name} {pack}",
                "UrlFriendlyName": slugify(name),
                "Description": f" {name}<br>{pack}",
                "SmallImageFile": f"{CDN}/small/{stock}.jpg",
                "MediumImageFile": f"{CDN}/medium/{stock}.jpg",
                "LargeImageFile": f"{CDN}/large/{stock}.jpg",
                "Unit": "KG" if kind == KIND_KG else "Each",
                "Source": f"Aisle.{path[0].slug}",
                "PackageSize": pack,
                "SupplyLimitMessage": f"'{name}' has a supply limit of 36.",
                "SmallFormatDescription": name,
                "FullDescription": name,
                "Brand": cat.brand[i],
                "AdditionalAttributes": self._attributes(i, path),
                "DetailsImagePaths": [f"{CDN}/large/{stock}.jpg"],
                "IsMarketProduct": bool(cat.is_market[i]),
                "Vendor": {"VendorId": 9000 + i % 50} if cat.is_market[i] else None,
            }
        )
        return row

    @staticmethod
    def _attributes(i: int, path: list[Node]) -> dict[str, Any]:
        dept, category, sub = path
        return {
            "sapdepartmentname": dept.name.upper(),
            "sapcategoryname": category.name.upper(),
            "sapsubcategoryname": sub.name.upper(),
            "sapsegmentname": sub.name.upper(),
            "PiesProductDepartmentsjson": orjson.dumps(
                [{"Id": dept.ext_id, "Description": dept.name}]
            ).decode(),
            "PiesProductDepartmentNodeId": dept.ext_id,
            "piesdepartmentnamesjson": orjson.dumps([dept.name]).decode(),
            "piescategorynamesjson": orjson.dumps([category.name]).decode(),
            "piessubcategorynamesjson": orjson.dumps([sub.name]).decode(),
            "productimages": None,
            "description": None,
            "ingredients": None,
            "healthstarrating": None,
            "countryoforigin": None,
            "brand": None,
        }

    # --- store locator ----------------------------------------------------------------
    async def stores(self, request: Request) -> Response:
        self.sb.counters.hit("woolworths", "stores")
        q = request.query_params
        division = q.get("Division", "SUPERMARKETS").upper()
        postcode = q.get("postcode", "*")
        raw_max = q.get("Max", "10000") or "10000"
        if not raw_max.isdigit():
            return json_response({"Success": False, "Message": "Max must be an integer"}, 400)
        limit = int(raw_max)
        day = self.sb.day()
        found = [
            _store_record(s)
            for s in self.chain.stores
            if s.is_open(day)
            and s.division == division
            and (postcode in ("*", "") or f"{s.locality.postcode:04d}" == postcode)
        ]
        return json_response({"Stores": found[:limit]})


def _store_record(store: Store) -> dict[str, Any]:
    hours = [
        {"Day": d, "OpenHour": "7:00 AM - 10:00 PM", "TradingHourForDisplay": f"{d[:3]}: 0700-2200"}
        for d in ("Today", "Tomorrow", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
    ]
    facilities = ["Pick up", "Direct to boot"] + (["Metro"] if store.division == "METRO" else [])
    return {
        "Division": store.division,
        "StoreNo": store.store_id,
        "Name": store.name,
        "AddressLine1": store.address,
        "AddressLine2": None,
        "Suburb": store.locality.suburb,
        "State": store.state,
        "Postcode": f"{store.locality.postcode:04d}",
        "Latitude": f"{store.lat:.6f}",
        "Longitude": f"{store.lng:.6f}",
        "GeoLevel": "0",
        "Distance": "0",
        "Phone": store.phone,
        "GMTZone": "10:0",
        "IsOpen": True,
        "PartnerUrl": None,
        "TradingHours": hours,
        "Facilities": facilities,
        "CategorisedFacilities": [],
        "NearbyPartners": None,
    }
