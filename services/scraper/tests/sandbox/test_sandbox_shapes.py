"""Every emulated endpoint answers in the chain's real shape.

The fixtures below are our own small examples written in the shapes of the captured
responses (field names and JSON types as the retailers send them); the served responses
must carry every one of those fields with the same type.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

WOOLWORTHS_PRODUCT = {
    "TileID": 0,
    "Stockcode": 123456,
    "Barcode": "9300000000001",
    "GtinFormat": 13,
    "CupPrice": 0.35,
    "InstoreCupPrice": 0.35,
    "CupMeasure": "100G",
    "CupString": "$0.35 / 100G",
    "InstoreCupString": "$0.35 / 100G",
    "HasCupPrice": True,
    "Price": 1.75,
    "InstorePrice": 1.75,
    "Name": "Example Biscuits",
    "DisplayName": "Example Biscuits 500g",
    "UrlFriendlyName": "example-biscuits",
    "Description": " x",
    "SmallImageFile": "https://x/small/1.jpg",
    "MediumImageFile": "https://x/m/1.jpg",
    "LargeImageFile": "https://x/l/1.jpg",
    "IsNew": False,
    "IsHalfPrice": False,
    "IsOnlineOnly": False,
    "IsOnSpecial": False,
    "InstoreIsOnSpecial": False,
    "IsEdrSpecial": False,
    "SavingsAmount": 0.0,
    "InstoreSavingsAmount": 0.0,
    "WasPrice": 1.75,
    "InstoreWasPrice": 1.75,
    "QuantityInTrolley": 0,
    "Unit": "Each",
    "MinimumQuantity": 1,
    "Source": "Aisle.Pantry",
    "SupplyLimit": 36,
    "IsRanged": True,
    "IsInStock": True,
    "PackageSize": "500g",
    "CentreTag": {"TagType": "None"},
    "IsAvailable": True,
    "InstoreIsAvailable": True,
    "IsPurchasable": True,
    "Brand": "Acme",
    "AdditionalAttributes": {
        "sapdepartmentname": "PANTRY",
        "piesdepartmentnamesjson": '["Pantry"]',
        "piescategorynamesjson": '["Biscuits"]',
        "piessubcategorynamesjson": '["Sweet"]',
    },
    "DetailsImagePaths": ["https://x/l/1.jpg"],
    "Rating": {"ReviewCount": 0},
    "IsSponsoredAd": False,
    "AdID": None,
    "IsMarketProduct": False,
    "Vendor": None,
    "FulfilmentStoreId": 1101,
    "NextAvailabilityDate": "2025-08-11T00:00:00.0000000Z",
}
WOOLWORTHS_NODE = {
    "NodeId": "1-E5BEE36E",
    "Description": "Fruit & Veg",
    "UrlFriendlyName": "fruit-veg",
    "ProductCount": 10,
    "NodeLevel": 1,
    "IsSpecial": False,
    "Children": [],
}
WOOLWORTHS_STORE = {
    "Division": "SUPERMARKETS",
    "StoreNo": "1275",
    "Name": "Conder",
    "AddressLine1": "4 Sidney Nolan Drive",
    "AddressLine2": None,
    "Suburb": "Conder",
    "State": "ACT",
    "Postcode": "2906",
    "Latitude": "-35.457078",
    "Longitude": "149.092691",
    "Phone": "(02) 6132 9843",
    "IsOpen": False,
    "TradingHours": [
        {
            "Day": "Today",
            "OpenHour": "7:00 AM - 10:00 PM",
            "TradingHourForDisplay": "Sat: 0700-2200",
        }
    ],
    "Facilities": ["Pick up"],
}
COLES_PRODUCT = {
    "_type": "PRODUCT",
    "id": 3942620,
    "adId": None,
    "adSource": None,
    "featured": False,
    "name": "Lamb Cutlets",
    "brand": "Coles",
    "description": "COLES LAMB CUTLETS",
    "size": "300g",
    "availability": False,
    "availabilityType": "InStoreAndOnline",
    "imageUris": [{"altText": "", "type": "default", "uri": "/3/3942620.jpg"}],
    "merchandiseHeir": {"tradeProfitCentre": "MEAT", "category": "LAMB"},
    "onlineHeirs": [
        {
            "aisle": "Cutlets",
            "category": "Lamb",
            "subCategory": "Meat & Seafood",
            "categoryId": "8892638",
            "aisleId": "8892639",
            "subCategoryId": "7238",
        }
    ],
    "pricing": {
        "now": 12,
        "was": 14.1,
        "unit": {
            "quantity": 300,
            "ofMeasureQuantity": 1,
            "ofMeasureUnits": "kg",
            "price": 40,
            "isWeighted": True,
            "isIncremental": False,
        },
        "comparable": "$40.00 per 1kg",
        "onlineSpecial": True,
    },
}
COLES_TILE = {"_type": "SINGLE_TILE", "adId": "Campaign", "adSource": "aem", "productIds": []}
COLES_MENU_ITEM = {
    "id": "7238",
    "level": 1,
    "name": "Meat & Seafood",
    "originalName": "M",
    "productCount": 373,
    "seoToken": "meat-seafood",
    "type": "CATALOG",
    "subType": "CORE",
    "childItems": [],
}
COLES_STORE = {
    "id": "COL:858",
    "name": "Coles Chisholm",
    "phone": "(02) 6298 5100",
    "isTrading": True,
    "address": {
        "state": "ACT",
        "suburb": "Chisholm",
        "addressLine": "42 Halley St",
        "postcode": "2905",
    },
    "position": {"latitude": -35.41, "longitude": 149.12},
    "brand": {"name": "Coles Supermarkets", "storeFinderId": 2, "id": "COL"},
}
ALDI_PRODUCT = {
    "sku": "000000000000200998",
    "name": "Milk Rolls 8 Pack 280g",
    "brandName": "BON APPETIT",
    "urlSlugText": "bon-appetit-milk-rolls",
    "discontinued": False,
    "notForSale": True,
    "quantityMin": 1,
    "quantityUnit": "ea",
    "sellingSize": "280 g",
    "price": {
        "amount": 469,
        "amountRelevant": 469,
        "amountRelevantDisplay": "$4.69",
        "comparison": 168,
        "comparisonDisplay": "$1.68 per 100 g",
        "currencyCode": "AUD",
        "wasPriceDisplay": None,
    },
    "categories": [{"id": "920000000", "name": "Bakery", "urlSlugText": "bakery"}],
    "assets": [{"url": "https://x", "maxWidth": 1500, "mimeType": "image/*"}],
    "badges": [],
}
ALDI_STORE = {
    "name": "Conder",
    "address": {
        "countryIsoCode": "AU",
        "regionName": "Australian Capital Territory",
        "regionIsoCode": "ACT",
        "address1": "9 Sidney Nolan Street",
        "city": "Conder",
        "zipCode": "2906",
        "latitude": "-35.45715000000000",
        "longitude": "149.09283000000000",
    },
    "id": "G473",
    "availableCustomerServiceTypes": ["pickup", "walk-in"],
    "distance": "127.6 km",
}
IGA_ITEM = {
    "attributes": {},
    "available": True,
    "barcode": "9315090204483",
    "brand": "Ayam",
    "categories": [
        {
            "category": "Grocery",
            "categoryBreadcrumb": "Grocery",
            "categoryId": "df3c7713",
            "retailerId": "Grocery",
        }
    ],
    "defaultCategory": [
        {
            "category": "Coconut Milk",
            "categoryBreadcrumb": "Grocery/Drinks",
            "categoryId": "bebde1e3",
            "retailerId": "Coconut_Milk",
        }
    ],
    "description": "",
    "name": "Ayam Coconut Cream",
    "price": "$3.50",
    "priceLabel": "",
    "priceNumeric": 3.5,
    "pricePerUnit": "$1.75/100ml",
    "priceSource": "regular",
    "productId": "673701",
    "sellBy": "Each",
    "sku": "673701",
    "tprPrice": [],
    "unitOfMeasure": {
        "abbreviation": "ml",
        "label": "Millilitre",
        "size": 100,
        "type": "millilitre",
    },
    "unitOfPrice": {"abbreviation": "", "label": "Each", "size": 1, "type": "each"},
    "unitOfSize": {"abbreviation": "ml", "label": "Millilitre", "size": 200, "type": "millilitre"},
    "wholePrice": 3.5,
}
IGA_STORE = {
    "storeId": "14150",
    "retailerStoreId": "33299",
    "storeName": "IGA Swinger Hill",
    "address": "84 Ainsworth Street\r\n",
    "suburb": "Swinger Hill",
    "state": "ACT",
    "postcode": "2606",
    "phone": "",
    "latitude": "-35.347978000000000",
    "longitude": "149.094837000000000",
    "locationNumber": "1896",
    "postcodeId": "3640",
}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


# Null when the product is unavailable (Woolworths shows no price then).
NULLABLE = {"$.Price", "$.WasPrice", "$.CupPrice"}


def assert_shape(served: Any, example: Any, path: str = "$") -> None:
    """Every field of the example is served, with the same JSON type (null matches all)."""
    if example is None or (served is None and path in NULLABLE):
        return
    assert served is not None, f"{path} is null"
    assert _kind(served) == _kind(example), f"{path}: {_kind(served)} != {_kind(example)}"
    if isinstance(example, dict):
        for key, value in example.items():
            assert key in served, f"{path}.{key} missing"
            assert_shape(served[key], value, f"{path}.{key}")
    elif isinstance(example, list) and example and served:
        assert_shape(served[0], example[0], f"{path}[0]")


def no_duplicate_keys(text: str) -> Any:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        assert len(keys) == len(set(keys)), f"duplicate keys in {keys}"
        return dict(pairs)

    return json.loads(text, object_pairs_hook=hook)


async def test_woolworths_categories_products_and_stores_have_the_real_shape(shopper: Any) -> None:
    cookies = {"wow-session": await shopper.wow_session()}
    cats = (await shopper.wow("GET", "/apis/ui/PiesCategoriesWithSpecials", cookies)).json()
    node = cats["Categories"][0]
    assert_shape(node, WOOLWORTHS_NODE)
    assert node["Children"] and node["Children"][0]["Children"], "three levels"
    response = await shopper.wow_browse(cookies, node["NodeId"], 1)
    body = no_duplicate_keys(response.text)
    assert body["Success"] is True and isinstance(body["TotalRecordCount"], int)
    products = [b["Products"][0] for b in body["Bundles"]]
    for product in products:
        assert_shape(product, WOOLWORTHS_PRODUCT)
    attrs = products[0]["AdditionalAttributes"]
    assert json.loads(attrs["piesdepartmentnamesjson"]) == [node["Description"]]
    stores = await shopper.wow(
        "GET",
        "/apis/ui/StoreLocator/Stores",
        cookies,
        params={"Max": 10000, "Division": "SUPERMARKETS", "Facility": "", "postcode": "*"},
    )
    assert_shape(stores.json()["Stores"][0], WOOLWORTHS_STORE)


async def test_coles_listing_menu_stores_and_detail_have_the_real_shape(shopper: Any) -> None:
    menu = (await shopper.coles_gql("GetShopProductsMenu", {})).json()
    item = menu["data"]["menuItems"]["items"][0]
    assert_shape(item, COLES_MENU_ITEM)
    assert "childItems" not in item["childItems"][0]["childItems"][0], "level 3 is a leaf"
    stores = (
        await shopper.coles_gql(
            "GetStores",
            {
                "latitude": -33.87,
                "longitude": 151.2,
                "brandIds": ["COL", "LQR"],
                "numberOfStores": 500,
            },
        )
    ).json()
    results = stores["data"]["stores"]["results"]
    assert_shape(results[0]["store"], COLES_STORE)
    response = await shopper.coles_browse(item["seoToken"], 1, None)
    page = no_duplicate_keys(response.text)["pageProps"]
    assert isinstance(page["initStoreId"], str)
    rows = page["searchResults"]["results"]
    for row in rows:
        assert_shape(row, COLES_PRODUCT if row["_type"] == "PRODUCT" else COLES_TILE)
    product_id = next(r["id"] for r in rows if r["_type"] == "PRODUCT")
    detail = await shopper.coles(
        "GET", f"/_next/data/{shopper.build}/en/product/some-name-{product_id}.json"
    )
    product = detail.json()["pageProps"]["product"]
    assert product["id"] == product_id and len(product["gtin"]) == 13


async def test_aldi_tree_search_and_service_points_have_the_real_shape(shopper: Any) -> None:
    client: httpx.AsyncClient = shopper.client
    points = (
        await client.get(
            "/aldi/v2/service-points",
            params={"latitude": -33.87, "longitude": 151.2, "serviceType": "walk-in"},
        )
    ).json()["data"]
    assert_shape(points[0], ALDI_STORE)
    store = points[0]["id"]
    tree = (
        await client.get(
            "/aldi/v2/product-category-tree",
            params={"serviceType": "walk-in", "servicePoint": store},
        )
    ).json()["data"]
    assert {"name", "key", "urlSlugText", "children"} <= set(tree[0])
    assert tree[0]["children"][0]["urlSlugText"].startswith(tree[0]["urlSlugText"] + "/")
    body = no_duplicate_keys((await shopper.aldi_search(store, tree[0]["key"], 0)).text)
    assert set(body["meta"]["pagination"]) == {"offset", "limit", "totalCount"}
    for product in body["data"]:
        assert_shape(product, ALDI_PRODUCT)
        assert len(product["sku"]) == 18 and isinstance(product["price"]["amount"], int)
        assert "barcode" not in product


async def test_iga_hierarchy_search_and_locator_have_the_real_shape(shopper: Any) -> None:
    records = [r for loc in range(1, 60) for r in await shopper.iga_locator(loc)]
    assert_shape(records[0], IGA_STORE)
    rid = next(r["retailerStoreId"] for r in records if r["retailerStoreId"])
    tree = (
        await shopper.client.get(
            f"/iga/api/storefront/stores/{rid}/categoryHierarchy", headers=shopper.iga_headers(rid)
        )
    ).json()
    assert tree["identifier"] == "retailer-prod-v3"
    department = tree["children"][0]["children"][0]
    assert set(department) == {"identifier", "displayName", "children"}
    body = no_duplicate_keys((await shopper.iga_search(rid, department["identifier"], 0)).text)
    assert isinstance(body["total"], int)
    for item in body["items"]:
        assert_shape(item, IGA_ITEM)
        crumb = item["defaultCategory"][0]["categoryBreadcrumb"]
        assert crumb.startswith(f"Grocery/{department['displayName']}/")
        if item["tprPrice"]:
            assert item["wasWholePrice"] > item["tprPrice"][0]["wholePrice"] == item["priceNumeric"]
