"""Listing responses in each retailer's real shape, built in memory.

Used by the parser tests (one small page per semantic rule) and by the parse benchmark
(thousands of full-size rows). The shapes follow the captured responses in
``reference/retailers``: same keys, same types, the same noise around the fields we read.
"""

from __future__ import annotations

from typing import Any

import orjson

# Keys the real Woolworths rows carry that the parser never reads: they make a sample row
# as big (and as slow to decode) as a real one.
_WOOLWORTHS_NOISE: dict[str, Any] = {
    "TileID": 0,
    "GtinFormat": 13,
    "InstoreCupPrice": None,
    "InstoreCupString": "",
    "InstoreHasCupPrice": True,
    "IncrementalPrice": None,
    "IncrementalWasPrice": None,
    "IncrementalMinimumQuantity": None,
    "IncrementalMinimumQuantityUnit": "g",
    "PricePerKGLabel": None,
    "MinWeightPrice": None,
    "MaxWeightPrice": None,
    "Description": " Sample product<br>description",
    "IsNew": False,
    "IsHalfPrice": False,
    "IsOnlineOnly": False,
    "InstoreIsOnSpecial": False,
    "IsEdrSpecial": False,
    "InstoreSavingsAmount": 0.0,
    "QuantityInTrolley": 0,
    "Unit": "Each",
    "MinimumQuantity": 1,
    "HasBeenBoughtBefore": False,
    "IsInTrolley": False,
    "Source": "Aisle.Pantry",
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
    "CentreTag": {
        "TagContent": None,
        "TagLink": None,
        "FallbackText": None,
        "TagType": "None",
        "MultibuyData": None,
        "MemberPriceData": None,
        "PromotionType": "NOT_SET",
        "IsRegisteredRewardCardPromotion": False,
    },
    "IsCentreTag": False,
    "ImageTag": None,
    "HeaderTag": None,
    "HasHeaderTag": False,
    "UnitWeightInGrams": 0,
    "SupplyLimitMessage": "'Sample' has a supply limit of 36. The quantity in your cart has "
    "been reduced accordingly. Please note we do not supply trade orders.",
    "InstoreIsAvailable": True,
    "IsPurchasable": True,
    "InstoreIsPurchasable": True,
    "AgeRestricted": False,
    "DisplayQuantity": 1,
    "RichDescription": None,
    "HideWasSavedPrice": False,
    "SapCategories": None,
    "IsRestrictedByDeliveryMethod": False,
    "FooterTag": None,
    "IsFooterEnabled": False,
    "Diagnostics": "0",
    "IsBundle": False,
    "IsInFamily": False,
    "ChildProducts": None,
    "UrlOverride": None,
    "Variety": None,
    "Rating": {"ReviewCount": 0, "RatingCount": 0, "RatingSum": 0, "Average": 0},
    "HasProductSubs": False,
    "IsGiftable": False,
    "Vendor": None,
    "Untraceable": False,
    "ThirdPartyProductInfo": None,
    "MarketFeatures": None,
    "MarketSpecifications": None,
    "SupplyLimitSource": "ProductLimit",
    "Tags": [],
    "IsPersonalisedByPurchaseHistory": False,
    "IsFromFacetedSearch": False,
    "NextAvailabilityDate": "2025-08-11T00:00:00.0000000Z",
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
_WOOLWORTHS_ATTRIBUTE_NOISE: dict[str, Any] = {
    **{f"attribute{i}": None for i in range(60)},
    "sapdepartmentname": "PANTRY",
    "sapcategoryname": "CANNED FOOD",
    "lifestyleanddietarystatement": "Low Fat,Low Salt",
    "healthstarrating": "4",
    "nutritionalinformation": '{"Name":"Nutritional Information","Attributes":[{"Id":705,'
    '"Name":"Carbohydrate Quantity Per 100g - Total - NIP","Value":"4.2g"}]}',
    "description": "A sample product description, about as long as a real one. " * 4,
}


def woolworths_product(
    stockcode: int,
    *,
    name: str = "Woolworths Sample Product",
    price: float | None = 3.5,
    was: float | None = None,
    cup_price: float | None = 0.7,
    cup_measure: str | None = "100G",
    package_size: str = "500g",
    brand: str | None = "Woolworths",
    barcode: str | None = "9300000000001",
    available: bool = True,
    sponsored: bool = False,
    market: bool = False,
    store: int = 1101,
    path: tuple[str, str, str] = ("Pantry", "Canned Food", "Canned Tomatoes"),
) -> dict[str, Any]:
    was_price = price if was is None else was
    attributes = {
        **_WOOLWORTHS_ATTRIBUTE_NOISE,
        "piesdepartmentnamesjson": orjson.dumps([path[0]]).decode(),
        "piescategorynamesjson": orjson.dumps([path[1]]).decode(),
        "piessubcategorynamesjson": orjson.dumps([path[2]]).decode(),
        "PiesProductDepartmentsjson": orjson.dumps(
            [{"Id": "1-E5BEE36E", "Description": path[0]}]
        ).decode(),
    }
    return {
        **_WOOLWORTHS_NOISE,
        "Stockcode": stockcode,
        "Barcode": barcode,
        "CupPrice": cup_price,
        "CupMeasure": cup_measure,
        "CupString": f"${cup_price} / {cup_measure}" if cup_price is not None else "",
        "HasCupPrice": cup_price is not None,
        "Price": price,
        "InstorePrice": price,
        "Name": name,
        "DisplayName": f"{name} {package_size}",
        "UrlFriendlyName": name.lower().replace(" ", "-"),
        "SmallImageFile": f"https://cdn1.woolworths.media/content/wowproductimages/small/{stockcode}.jpg",
        "MediumImageFile": f"https://cdn1.woolworths.media/content/wowproductimages/medium/{stockcode}.jpg",
        "LargeImageFile": f"https://cdn1.woolworths.media/content/wowproductimages/large/{stockcode}.jpg",
        "DetailsImagePaths": [],
        "IsOnSpecial": was is not None and was != price,
        "SavingsAmount": 0.0,
        "WasPrice": was_price,
        "InstoreWasPrice": was_price,
        "IsInStock": available,
        "PackageSize": package_size,
        "SmallFormatDescription": name,
        "FullDescription": name,
        "IsAvailable": available,
        "Brand": brand,
        "AdditionalAttributes": attributes,
        "IsSponsoredAd": sponsored,
        "AdID": "ad-1" if sponsored else None,
        "AdIndex": None,
        "AdStatus": None,
        "IsMarketProduct": market,
        "FulfilmentStoreId": store,
    }


def woolworths_page(products: list[dict[str, Any]], total: int) -> dict[str, Any]:
    bundles = [{"Products": [p], "Name": p["Name"], "DisplayName": p["Name"]} for p in products]
    return {"Bundles": bundles, "TotalRecordCount": total, "Success": True, "Aggregations": []}


def coles_product(
    product_id: int,
    *,
    name: str = "Tasmanian Smoked Salmon",
    brand: str = "Tassal",
    size: str = "250g",
    now: float = 21,
    was: float = 0,
    unit_price: float | None = 84,
    unit_quantity: int = 1,
    unit_units: str = "kg",
    available: bool = True,
    heirs: tuple[str, str, str] = ("Meat & Seafood", "Seafood", "Smoked And Cured Fish"),
) -> dict[str, Any]:
    unit = None
    if unit_price is not None:
        unit = {
            "quantity": 1,
            "ofMeasureQuantity": unit_quantity,
            "ofMeasureUnits": unit_units,
            "price": unit_price,
            "ofMeasureType": unit_units,
            "isWeighted": False,
            "isIncremental": False,
        }
    return {
        "_type": "PRODUCT",
        "id": product_id,
        "adId": None,
        "adSource": None,
        "featured": False,
        "name": name,
        "brand": brand,
        "description": f"{brand.upper()} {name.upper()}",
        "size": size,
        "availability": available,
        "availabilityType": "InStoreAndOnline",
        "imageUris": [{"altText": "", "type": "default", "uri": f"/3/{product_id}.jpg"}],
        "locations": [
            {
                "aisleSide": None,
                "description": "Aisle information is not available.",
                "facing": 0,
                "aisle": None,
                "order": 9999,
                "shelf": None,
            }
        ],
        "restrictions": {
            "retailLimit": 20,
            "promotionalLimit": 12,
            "liquorAgeRestrictionFlag": False,
            "tobaccoAgeRestrictionFlag": False,
            "restrictedByOrganisation": False,
        },
        "merchandiseHeir": {
            "tradeProfitCentre": "DAIRY",
            "categoryGroup": "DAIRY",
            "category": "SMOKED & CURED FISH",
            "subCategory": "SALMON DY",
            "className": "COLD SMOKED",
        },
        "onlineHeirs": [
            {
                "aisle": heirs[2],
                "category": heirs[1],
                "subCategory": heirs[0],
                "categoryId": "8892671",
                "aisleId": "8892678",
                "subCategoryId": "7238",
            }
        ],
        "pricing": {
            "now": now,
            "was": was,
            "saveAmount": round(was - now, 2) if was else 0,
            "unit": unit,
            "comparable": f"${unit_price:.2f} per {unit_quantity}{unit_units}" if unit else "",
            "promotionType": "SPECIAL" if was else None,
            "onlineSpecial": bool(was),
        },
    }


def coles_tile() -> dict[str, Any]:
    return {
        "_type": "SINGLE_TILE",
        "adId": "Campaign_Aisle_Tile_Entertaining_At_Home",
        "adSource": "aem",
        "bannerText": "Entertaining at home",
        "ctaLink": "/offers/entertaining-at-home",
        "productIds": ["1015615", "3576271"],
    }


def coles_page(rows: list[dict[str, Any]], total: int, store: str = "0858") -> dict[str, Any]:
    return {
        "pageProps": {
            "initStoreId": store,
            "assetsUrl": "https://shop.coles.com.au",
            "searchResults": {
                "noOfResults": total,
                "start": 0,
                "pageSize": 48,
                "keyword": "",
                "resultType": 1,
                "results": rows,
            },
        },
        "__N_SSP": True,
    }


def aldi_product(
    sku: str,
    *,
    name: str = "Goat Cheese Original 110g",
    brand: str = "EMPORIUM SELECTION",
    amount: int = 379,
    was_display: str | None = None,
    comparison: int | None = 3445,
    comparison_display: str | None = "$34.45 per 1 kg",
    not_for_sale: bool = False,
    categories: tuple[str, ...] = ("Dairy, Eggs & Fridge", "Cheese"),
) -> dict[str, Any]:
    slug = name.lower().replace(" ", "-")
    return {
        "sku": sku,
        "name": name,
        "brandName": brand,
        "urlSlugText": slug,
        "ageRestriction": None,
        "alcohol": None,
        "discontinued": False,
        "discontinuedNote": None,
        "notForSale": not_for_sale,
        "notForSaleReason": None,
        "quantityMin": 1,
        "quantityMax": 99,
        "quantityInterval": 1,
        "quantityDefault": 1,
        "quantityUnit": "ea",
        "weightType": "0",
        "sellingSize": "0.11 kg",
        "energyClass": None,
        "onSaleDateDisplay": None,
        "price": {
            "amount": amount,
            "amountRelevant": amount,
            "amountRelevantDisplay": f"${amount / 100:.2f}",
            "bottleDeposit": 0,
            "bottleDepositDisplay": "$0.00",
            "comparison": comparison,
            "comparisonDisplay": comparison_display,
            "currencyCode": "AUD",
            "currencySymbol": "$",
            "perUnit": None,
            "perUnitDisplay": None,
            "wasPriceDisplay": was_display,
            "additionalInfo": None,
        },
        "countryExtensions": None,
        "categories": [
            {"id": str(960000000 + i), "name": c, "urlSlugText": c.lower()}
            for i, c in enumerate(categories)
        ],
        "assets": [
            {
                "url": "https://dm.apac.cms.aldi.cx/is/image/aldiprodapac/product/jpg/"
                "scaleWidth/{width}/d4302f84/{slug}",
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


def aldi_page(
    products: list[dict[str, Any]], total: int, offset: int = 0, store: str | None = "G102"
) -> dict[str, Any]:
    meta: dict[str, Any] = {"pagination": {"offset": offset, "limit": 30, "totalCount": total}}
    if store is not None:
        meta["servicePoint"] = store
    return {"meta": meta, "data": products}


def iga_item(
    sku: str,
    *,
    name: str = "Ayam Coconut Cream Regular",
    brand: str | None = "Ayam",
    barcode: str | None = "9556041641005",
    whole: float = 3.5,
    special: float | None = None,
    per_unit: str | None = "$1.75/100ml",
    available: bool = True,
    breadcrumb: str = "Grocery/Drinks/Long Life Milk/Coconut Milk",
) -> dict[str, Any]:
    shelf = whole if special is None else special
    item: dict[str, Any] = {
        "attributes": {},
        "available": available,
        "barcode": barcode,
        "brand": brand,
        "categories": [
            {
                "category": breadcrumb.rsplit("/", 1)[-1],
                "categoryBreadcrumb": breadcrumb,
                "categoryId": "bebde1e3",
                "retailerId": "Coconut_Milk",
            }
        ],
        "defaultCategory": [
            {
                "category": breadcrumb.rsplit("/", 1)[-1],
                "categoryBreadcrumb": breadcrumb,
                "categoryId": "bebde1e3",
                "retailerId": "Coconut_Milk",
            }
        ],
        "description": "",
        "image": {
            "cell": None,
            "default": f"https://cdn.metcash.media/igashop/images/{sku}.jpg",
            "details": None,
            "template": None,
            "zoom": None,
        },
        "isFavorite": False,
        "isPastPurchased": False,
        "name": name,
        "price": f"${shelf:.2f}",
        "priceLabel": "",
        "priceNumeric": shelf,
        "pricePerUnit": per_unit,
        "priceSource": "regular" if special is None else "tpr",
        "productId": sku,
        "sellBy": "Each",
        "shoppingRuleMessages": None,
        "sku": sku,
        "tprPrice": []
        if special is None
        else [{"wholePrice": special, "price": f"${special:.2f}"}],
        "unitOfMeasure": {
            "abbreviation": "ml",
            "label": "Millilitre",
            "size": 100,
            "type": "millilitre",
        },
        "unitOfPrice": {"abbreviation": "", "label": "Each", "size": 1, "type": "each"},
        "unitOfSize": {
            "abbreviation": "ml",
            "label": "Millilitre",
            "size": 200,
            "type": "millilitre",
        },
        "weightIncrement": None,
        "wholePrice": shelf,
    }
    if special is not None:
        item["wasPrice"] = f"${whole:.2f}"
        item["wasWholePrice"] = whole
    return item


def iga_page(items: list[dict[str, Any]], total: int) -> dict[str, Any]:
    return {"items": items, "total": total, "count": len(items)}
