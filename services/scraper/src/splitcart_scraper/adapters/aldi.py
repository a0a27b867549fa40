"""Aldi: an open JSON API; amounts are already in cents."""

from __future__ import annotations

import re
from typing import Any

from .base import ParsedPage, Product
from .fields import as_object, fail, opt_str, req_bool, shape_error, top_field
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
    return ParsedPage(products, total, None, {})


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
