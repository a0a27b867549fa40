"""Aldi product-search pages → normalised products, one rule per test."""

from __future__ import annotations

import math

import pytest
from splitcart_scraper.adapters.aldi import locator_grid, parse_listing
from splitcart_scraper.adapters.errors import ShapeError
from splitcart_scraper.adapters.samples import aldi_page, aldi_product
from splitcart_shared.events import NormalisedProduct

SKU = "000000000000286123"


def _one(**kwargs: object) -> dict[str, object]:
    return parse_listing(aldi_page([aldi_product(SKU, **kwargs)], 1)).products[0]  # type: ignore[arg-type]


def test_a_regular_product_is_normalised_exactly() -> None:
    product = _one()
    assert product == {
        "sku": SKU,
        "name": "Goat Cheese Original 110g",
        "brand": "EMPORIUM SELECTION",
        "size": "0.11 kg",
        "barcode": None,
        "category_path": ["Dairy, Eggs & Fridge", "Cheese"],
        "price_cents": 379,
        "was_price_cents": None,
        "unit_price_cents": 3445,
        "unit_measure": "1kg",
        "on_special": False,
        "available": True,
        "url": "https://www.aldi.com.au/product/goat-cheese-original-110g-000000000000286123",
        "image_url": "https://dm.apac.cms.aldi.cx/is/image/aldiprodapac/product/jpg/"
        "scaleWidth/500/d4302f84/goat-cheese-original-110g",
    }
    NormalisedProduct.model_validate(product)


def test_amounts_are_already_cents() -> None:
    assert _one(amount=469)["price_cents"] == 469


def test_a_was_price_display_makes_a_special() -> None:
    product = _one(amount=469, was_display="$5.49")
    assert (product["was_price_cents"], product["on_special"]) == (549, True)


def test_not_for_sale_is_unavailable_with_its_price() -> None:
    product = _one(not_for_sale=True)
    assert (product["available"], product["price_cents"]) == (False, 379)


@pytest.mark.parametrize(
    ("display", "measure"),
    [("$1.68 per 100 g", "100g"), ("$3.10 per 1 l", "1L"), ("$0.50 per 1 ea", "1ea")],
)
def test_comparison_displays_give_the_unit(display: str, measure: str) -> None:
    assert _one(comparison=168, comparison_display=display)["unit_measure"] == measure


def test_served_store_is_the_service_point_in_meta() -> None:
    page = parse_listing(aldi_page([aldi_product(SKU)], 1, store="G473"))
    assert (page.served_store_id, page.total) == ("G473", 1)


def test_dollar_amounts_are_a_shape_error() -> None:
    row = aldi_product(SKU)
    row["price"]["amount"] = 3.79
    with pytest.raises(ShapeError) as caught:
        parse_listing(aldi_page([row], 1))
    assert caught.value.path == "$.data[0].price.amount"


def test_missing_pagination_is_a_shape_error() -> None:
    page = aldi_page([], 0)
    del page["meta"]["pagination"]
    with pytest.raises(ShapeError) as caught:
        parse_listing(page)
    assert caught.value.path == "$.meta.pagination"


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 12742 * math.asin(math.sqrt(h))


@pytest.mark.parametrize(
    "place",
    [(-33.87, 151.21), (-31.95, 115.86), (-12.46, 130.84), (-42.88, 147.33), (-20.73, 139.49)],
)
def test_the_locator_grid_puts_every_place_within_the_100_km_radius(
    place: tuple[float, float],
) -> None:
    assert min(_km(place, point) for point in locator_grid(1.0)) < 100
