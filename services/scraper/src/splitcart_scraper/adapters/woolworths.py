"""Woolworths listing responses (``POST /apis/ui/browse/category``) → normalised products."""

from __future__ import annotations

from typing import Any

from .base import ParsedPage, Product
from .fields import (
    as_object,
    fail,
    json_in_string,
    opt_cents,
    opt_str,
    req_bool,
    req_dict,
    req_list,
    shape_error,
    top_field,
)
from .money import MoneyError, normalise_measure, unit_dollars_to_cents

CHAIN = "woolworths"
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
    return ParsedPage(products, total, _served(served), dropped)


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


def parse_categories(data: Any) -> list[dict[str, Any]]:
    page = as_object(CHAIN, data)
    categories = top_field(CHAIN, page, "Categories", list)
    return [req_dict({"c": c}, "c") for c in categories]


_ = req_list
