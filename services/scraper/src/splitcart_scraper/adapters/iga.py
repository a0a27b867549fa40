"""IGA: the Metcash storefront API, one online shop (retailerStoreId) per store."""

from __future__ import annotations

import re
from typing import Any

from .base import ParsedPage, Product
from .fields import as_object, fail, opt_cents, opt_str, shape_error, top_field
from .money import MoneyError, display_to_cents, normalise_measure

CHAIN = "iga"
SITE = "https://www.igashop.com.au"
_PER_UNIT = re.compile(r"^\s*(\$[\d.,]+)\s*/\s*(.+?)\s*$")


def parse_listing(data: Any) -> ParsedPage:
    """``/api/storefront/stores/{rid}/categories/{id}/search`` → products and ``total``."""
    page = as_object(CHAIN, data)
    rows = top_field(CHAIN, page, "items", list)
    total = top_field(CHAIN, page, "total", int)
    products: list[Product] = []
    for i, raw in enumerate(rows):
        try:
            products.append(parse_product(raw))
        except Exception as exc:  # any failure inside one product is a shape change
            raise shape_error(CHAIN, f"$.items[{i}]", exc) from exc
    return ParsedPage(products, total, None, {})


def parse_product(raw: dict[str, Any]) -> Product:
    sku = raw.get("sku") or raw["productId"]
    if type(sku) is not str:
        fail("sku", f"expected a string, got {sku!r}")
    name = opt_str(raw, "name")
    if name is None:
        fail("name", "missing or blank")
    price, was = _prices(raw)
    unit_price, measure = _per_unit(raw)
    available = raw["available"]
    if type(available) is not bool:
        fail("available", f"expected true/false, got {available!r}")
    return {
        "sku": sku,
        "name": name,
        "brand": opt_str(raw, "brand"),
        "size": _size(raw),
        "barcode": opt_str(raw, "barcode"),
        "category_path": _category_path(raw),
        "price_cents": price,
        "was_price_cents": was,
        "unit_price_cents": unit_price,
        "unit_measure": measure,
        "on_special": was is not None,
        "available": available and price is not None,
        "url": f"{SITE}/product/{sku}",
        "image_url": _image(raw),
    }


def _prices(raw: dict[str, Any]) -> tuple[int | None, int | None]:
    """(price, was): a temporary price reduction (TPR) is the special price, the whole
    price (or wasWholePrice) what it was."""
    whole = opt_cents(raw, "wholePrice")
    was = opt_cents(raw, "wasWholePrice")
    tpr = raw.get("tprPrice") or []
    if type(tpr) is not list:
        fail("tprPrice", "expected a list")
    if tpr:
        if type(tpr[0]) is not dict:
            fail("tprPrice[0]", "expected an object")
        special = opt_cents(tpr[0], "wholePrice")
        if special is not None and special != whole:
            return special, was if was is not None else whole
    if was is not None and whole is not None and was != whole:
        return whole, was
    return whole, None


def _per_unit(raw: dict[str, Any]) -> tuple[int | None, str | None]:
    text = opt_str(raw, "pricePerUnit")
    if text is None:
        return None, None
    match = _PER_UNIT.match(text)
    measure = normalise_measure(match.group(2)) if match else None
    if match is None or measure is None:
        fail("pricePerUnit", f"unrecognised unit price {text!r}")
    try:
        return display_to_cents(match.group(1)), measure
    except MoneyError as exc:
        fail("pricePerUnit", str(exc))


def _size(raw: dict[str, Any]) -> str | None:
    unit = raw.get("unitOfSize")
    if type(unit) is not dict:
        return None
    size, abbreviation = unit.get("size"), unit.get("abbreviation")
    if size is None or not abbreviation:
        return None
    return f"{size}{abbreviation}"


def _category_path(raw: dict[str, Any]) -> list[str]:
    default = raw.get("defaultCategory")
    if not default:
        return []
    if type(default) is not list or type(default[0]) is not dict:
        fail("defaultCategory", "expected a list of objects")
    crumb = default[0].get("categoryBreadcrumb")
    if type(crumb) is not str:
        fail("defaultCategory[0].categoryBreadcrumb", f"expected a string, got {crumb!r}")
    return [part for part in crumb.split("/") if part]


def _image(raw: dict[str, Any]) -> str | None:
    image = raw.get("image")
    if type(image) is not dict:
        return None
    url = image.get("default")
    return url if type(url) is str and url else None
