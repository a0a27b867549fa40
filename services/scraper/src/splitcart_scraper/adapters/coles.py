"""Coles: Next.js data routes behind Imperva; the store is chosen by cookie."""

from __future__ import annotations

from typing import Any

from .base import ParsedPage, Product
from .errors import ShapeError
from .fields import (
    as_object,
    fail,
    opt_cents,
    opt_str,
    req_dict,
    shape_error,
    top_field,
)
from .money import MoneyError, normalise_measure, unit_dollars_to_cents

CHAIN = "coles"
SITE = "https://www.coles.com.au"
IMAGE_BASE = "https://productimages.coles.com.au/productimages"


def parse_listing(data: Any) -> ParsedPage:
    """``/_next/data/{buildId}/en/browse/{slug}.json`` → products, total, served store."""
    page_props = top_field(CHAIN, as_object(CHAIN, data), "pageProps", dict)
    results = top_field(CHAIN, page_props, "searchResults", dict, "$.pageProps")
    total = top_field(CHAIN, results, "noOfResults", int, "$.pageProps.searchResults")
    rows = top_field(CHAIN, results, "results", list, "$.pageProps.searchResults")
    products: list[Product] = []
    dropped = {"ad_tile": 0}
    for i, raw in enumerate(rows):
        try:
            kind = raw["_type"]
            if kind != "PRODUCT":
                dropped["ad_tile"] += 1
                continue
            products.append(parse_product(raw))
        except Exception as exc:  # any failure inside one product is a shape change
            raise shape_error(CHAIN, f"$.pageProps.searchResults.results[{i}]", exc) from exc
    return ParsedPage(products, total, served_store(page_props), dropped)


def served_store(page_props: dict[str, Any]) -> str | None:
    store = page_props.get("initStoreId")
    if store is None:
        return None
    if type(store) not in (str, int):
        raise ShapeError(CHAIN, "$.pageProps.initStoreId", f"expected a store id, got {store!r}")
    return str(store)


def parse_product(raw: dict[str, Any]) -> Product:
    sku = raw["id"]
    if type(sku) not in (int, str):
        fail("id", f"expected a product id, got {sku!r}")
    name = opt_str(raw, "name")
    if name is None:
        fail("name", "missing or blank")
    pricing = raw.get("pricing")
    price, was, unit_price, unit_measure = _pricing(pricing)
    available = raw["availability"]
    if type(available) is not bool:
        fail("availability", f"expected true/false, got {available!r}")
    return {
        "sku": str(sku),
        "name": name,
        "brand": opt_str(raw, "brand"),
        "size": opt_str(raw, "size"),
        "barcode": None,
        "category_path": _category_path(raw),
        "price_cents": price,
        "was_price_cents": was,
        "unit_price_cents": unit_price,
        "unit_measure": unit_measure,
        "on_special": was is not None,
        "available": available and price is not None,
        "url": f"{SITE}/product/{sku}",
        "image_url": _image(raw),
    }


def _pricing(pricing: Any) -> tuple[int | None, int | None, int | None, str | None]:
    """(price, was, unit price, unit measure); a product without pricing has no price."""
    if pricing is None:
        return None, None, None, None
    if type(pricing) is not dict:
        fail("pricing", "expected an object or null")
    price = opt_cents(pricing, "now")
    was = opt_cents(pricing, "was")
    # Coles sends was = 0 for "not on special".
    if not was or price is None or was == price:
        was = None
    unit_price, measure = _unit(pricing.get("unit"))
    return price, was, unit_price, measure


def _unit(unit: Any) -> tuple[int | None, str | None]:
    if unit is None:
        return None, None
    if type(unit) is not dict:
        fail("pricing.unit", "expected an object or null")
    price = unit.get("price")
    units = unit.get("ofMeasureUnits")
    if price is None or not units:
        return None, None
    if type(price) not in (int, float):
        fail("pricing.unit.price", f"expected a number, got {price!r}")
    quantity = unit.get("ofMeasureQuantity") or 1
    measure = normalise_measure(f"{quantity}{units}")
    if measure is None:
        fail("pricing.unit.ofMeasureUnits", f"unrecognised measure {quantity}{units}")
    try:
        return unit_dollars_to_cents(price), measure
    except MoneyError as exc:
        fail("pricing.unit.price", str(exc))


def _category_path(raw: dict[str, Any]) -> list[str]:
    heirs = raw.get("onlineHeirs")
    if not heirs:
        return []
    if type(heirs) is not list or type(heirs[0]) is not dict:
        fail("onlineHeirs", "expected a list of objects")
    first = heirs[0]
    # Coles names its levels oddly: "subCategory" is the top (e.g. "Meat & Seafood").
    names = (first.get("subCategory"), first.get("category"), first.get("aisle"))
    return [n for n in names if type(n) is str and n]


def _image(raw: dict[str, Any]) -> str | None:
    uris = raw.get("imageUris")
    if not uris or type(uris) is not list or type(uris[0]) is not dict:
        return None
    uri = uris[0].get("uri")
    return f"{IMAGE_BASE}{uri}" if type(uri) is str and uri else None


def parse_barcode(data: Any) -> str | None:
    """The product page data (``/_next/data/{buildId}/en/product/{slug}.json``) → gtin."""
    page_props = top_field(CHAIN, as_object(CHAIN, data), "pageProps", dict)
    product = top_field(CHAIN, page_props, "product", dict, "$.pageProps")
    gtin = product.get("gtin")
    if gtin is None or gtin == "":
        return None
    if type(gtin) is not str:
        raise ShapeError(CHAIN, "$.pageProps.product.gtin", f"expected a string, got {gtin!r}")
    return gtin


_ = req_dict
