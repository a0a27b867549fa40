"""Coles listing and product pages → normalised products, one rule per test."""

from __future__ import annotations

import pytest
from splitcart_scraper.adapters.coles import (
    numeric_store_id,
    parse_barcode,
    parse_listing,
    parse_site_config,
    product_slug,
)
from splitcart_scraper.adapters.errors import BlockedError, ShapeError
from splitcart_scraper.adapters.samples import coles_page, coles_product, coles_tile
from splitcart_shared.events import NormalisedProduct


def test_a_regular_product_is_normalised_exactly() -> None:
    page = parse_listing(coles_page([coles_product(3477123)], 1))
    product = page.products[0]
    assert product == {
        "sku": "3477123",
        "name": "Tasmanian Smoked Salmon",
        "brand": "Tassal",
        "size": "250g",
        "barcode": None,
        "category_path": ["Meat & Seafood", "Seafood", "Smoked And Cured Fish"],
        "price_cents": 2100,
        "was_price_cents": None,
        "unit_price_cents": 8400,
        "unit_measure": "1kg",
        "on_special": False,
        "available": True,
        "url": "https://www.coles.com.au/product/3477123",
        "image_url": "https://productimages.coles.com.au/productimages/3/3477123.jpg",
    }
    NormalisedProduct.model_validate(product)


def test_ad_tiles_are_dropped() -> None:
    page = parse_listing(coles_page([coles_tile(), coles_product(1), coles_tile()], 1))
    assert [p["sku"] for p in page.products] == ["1"]
    assert page.dropped == {"ad_tile": 2}
    assert page.counted_rows == 1


def test_was_zero_is_not_a_special() -> None:
    product = parse_listing(coles_page([coles_product(1, now=5, was=0)], 1)).products[0]
    assert (product["on_special"], product["was_price_cents"]) == (False, None)


def test_a_was_price_makes_a_special() -> None:
    product = parse_listing(coles_page([coles_product(1, now=12, was=14.1)], 1)).products[0]
    assert (product["price_cents"], product["was_price_cents"]) == (1200, 1410)
    assert product["on_special"] is True


def test_unavailable_keeps_its_shelf_price() -> None:
    product = parse_listing(coles_page([coles_product(1, available=False)], 1)).products[0]
    assert (product["available"], product["price_cents"]) == (False, 2100)


@pytest.mark.parametrize(
    ("quantity", "units", "measure"),
    [(1, "kg", "1kg"), (1, "l", "1L"), (1, "ea", "1ea"), (100, "g", "100g"), (100, "ml", "100mL")],
)
def test_unit_prices_carry_a_normalised_measure(quantity: int, units: str, measure: str) -> None:
    row = coles_product(1, unit_price=1.68, unit_quantity=quantity, unit_units=units)
    product = parse_listing(coles_page([row], 1)).products[0]
    assert (product["unit_price_cents"], product["unit_measure"]) == (168, measure)


def test_served_store_and_total_come_from_the_page() -> None:
    page = parse_listing(coles_page([coles_product(1)], 97, store="0314"))
    assert (page.served_store_id, page.total) == ("0314", 97)


def test_missing_search_results_is_a_shape_error() -> None:
    page = coles_page([], 0)
    del page["pageProps"]["searchResults"]
    with pytest.raises(ShapeError) as caught:
        parse_listing(page)
    assert caught.value.path == "$.pageProps.searchResults"


def test_a_product_without_type_is_a_shape_error_with_its_path() -> None:
    row = coles_product(1)
    del row["_type"]
    with pytest.raises(ShapeError) as caught:
        parse_listing(coles_page([coles_tile(), row], 1))
    assert caught.value.path == "$.pageProps.searchResults.results[1]._type"


def test_a_string_price_is_a_shape_error() -> None:
    row = coles_product(1)
    row["pricing"]["now"] = "$3.00"
    with pytest.raises(ShapeError, match="now"):
        parse_listing(coles_page([row], 1))


def test_the_challenge_page_is_reported_as_blocked() -> None:
    html = "<html><head><script src='/_Incapsula_Resource?SWJIYLWA=5074a7'></script></head></html>"
    with pytest.raises(BlockedError):
        parse_site_config(html)


def test_build_id_and_subscription_key_are_read_from_the_site() -> None:
    html = (
        '<script id="__NEXT_DATA__" type="application/json">{"buildId": "20250826.3-abc"}'
        '</script><script>window.__RUNTIME_CONFIG__ = {"BFF_API_SUBSCRIPTION_KEY": "k1"};'
        "</script>"
    )
    assert parse_site_config(html) == ("20250826.3-abc", "k1")


def test_barcode_comes_from_the_product_page_gtin() -> None:
    page = {
        "pageProps": {"initStoreId": "0314", "product": {"id": 3984766, "gtin": "9310631635078"}}
    }
    assert parse_barcode(page) == "9310631635078"
    page["pageProps"]["product"]["gtin"] = None  # type: ignore[index]
    assert parse_barcode(page) is None


def test_store_and_product_ids_are_spelled_the_way_coles_wants() -> None:
    assert numeric_store_id("COL:858") == "858"
    assert numeric_store_id("LQR:4501") == "4501"
    assert product_slug("3984766") == "product-3984766"
    assert product_slug("https://www.coles.com.au/product/queen-victoria-tea-3984766") == (
        "queen-victoria-tea-3984766"
    )


def test_spot_checks_sample_subcategories_only_where_they_fill_a_page() -> None:
    from splitcart_scraper.adapters.coles import menu_categories

    def item(
        token: str, count: int, children: list[dict[str, object]] | None = None
    ) -> dict[str, object]:
        return {"seoToken": token, "name": token, "productCount": count, "childItems": children}

    big = item("pantry", 200, [item("tins", 100), item("pasta", 100)])
    small = item("deli", 40, [item("cheese", 20), item("olives", 20)])
    spot = menu_categories([big, small], "spot", page_size=48)
    assert [c.key for c in spot] == ["pantry/tins", "pantry/pasta", "deli"]
    assert [c.key for c in menu_categories([big, small], "full")] == ["pantry", "deli"]
