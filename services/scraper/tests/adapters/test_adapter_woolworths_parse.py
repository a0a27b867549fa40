"""Woolworths listing pages → normalised products, one rule per test."""

from __future__ import annotations

import pytest
from splitcart_scraper.adapters.errors import ShapeError
from splitcart_scraper.adapters.samples import woolworths_page, woolworths_product
from splitcart_scraper.adapters.woolworths import (
    full_nodes,
    parse_category_tree,
    parse_listing,
    spot_nodes,
)
from splitcart_shared.events import NormalisedProduct


def _one(**kwargs: object) -> dict[str, object]:
    page = parse_listing(woolworths_page([woolworths_product(136341, **kwargs)], 1))  # type: ignore[arg-type]
    assert len(page.products) == 1
    return page.products[0]


def test_a_regular_product_is_normalised_exactly() -> None:
    product = _one(price=3.5, cup_price=0.7, cup_measure="100G")
    assert product == {
        "sku": "136341",
        "name": "Woolworths Sample Product",
        "brand": "Woolworths",
        "size": "500g",
        "barcode": "9300000000001",
        "category_path": ["Pantry", "Canned Food", "Canned Tomatoes"],
        "price_cents": 350,
        "was_price_cents": None,
        "unit_price_cents": 70,
        "unit_measure": "100g",
        "on_special": False,
        "available": True,
        "url": "https://www.woolworths.com.au/shop/productdetails/136341/woolworths-sample-product",
        "image_url": "https://cdn1.woolworths.media/content/wowproductimages/medium/136341.jpg",
    }
    NormalisedProduct.model_validate(product)


def test_was_price_equal_to_price_is_not_a_special() -> None:
    product = _one(price=4.0, was=4.0)
    assert product["on_special"] is False
    assert product["was_price_cents"] is None


def test_was_price_above_price_is_a_special() -> None:
    product = _one(price=14.1, was=16.3)
    assert (product["price_cents"], product["was_price_cents"]) == (1410, 1630)
    assert product["on_special"] is True


def test_null_price_means_unavailable_without_a_price() -> None:
    product = _one(price=None, was=None, available=True)
    assert product["price_cents"] is None
    assert product["available"] is False
    assert product["on_special"] is False


def test_prices_are_exact_cents_whatever_the_float() -> None:
    assert _one(price=0.29)["price_cents"] == 29
    assert _one(price=1.15)["price_cents"] == 115
    assert _one(price=19.99)["price_cents"] == 1999
    assert _one(price=12)["price_cents"] == 1200


@pytest.mark.parametrize(
    ("measure", "normalised"),
    [("100G", "100g"), ("1KG", "1kg"), ("1L", "1L"), ("100ML", "100mL"), ("1EA", "1ea")],
)
def test_cup_measures_are_normalised(measure: str, normalised: str) -> None:
    assert _one(cup_measure=measure)["unit_measure"] == normalised


def test_sponsored_and_marketplace_rows_are_dropped_and_counted() -> None:
    rows = [
        woolworths_product(1),
        woolworths_product(2, sponsored=True),
        woolworths_product(3, market=True),
    ]
    page = parse_listing(woolworths_page(rows, 2))
    assert [p["sku"] for p in page.products] == ["1"]
    assert page.dropped == {"sponsored": 1, "marketplace": 1}
    # Marketplace rows count toward TotalRecordCount, sponsored rows do not.
    assert page.counted_rows == 2


def test_served_store_is_the_fulfilment_store_of_the_rows() -> None:
    page = parse_listing(woolworths_page([woolworths_product(1, store=1275)], 1))
    assert page.served_store_id == "1275"
    assert page.total == 1


def test_a_page_of_sponsored_rows_only_serves_no_store_and_no_products() -> None:
    page = parse_listing(woolworths_page([woolworths_product(9, sponsored=True)], 72))
    assert page.products == []
    assert page.served_store_id is None


def test_rows_from_two_stores_never_pass_for_either() -> None:
    rows = [woolworths_product(1, store=1275), woolworths_product(2, store=1101)]
    assert parse_listing(woolworths_page(rows, 2)).served_store_id == "1101,1275"


def test_missing_total_is_a_shape_error() -> None:
    page = woolworths_page([woolworths_product(1)], 1)
    del page["TotalRecordCount"]
    with pytest.raises(ShapeError) as caught:
        parse_listing(page)
    assert caught.value.path == "$.TotalRecordCount"


def test_a_string_price_is_a_shape_error_with_its_path() -> None:
    row = woolworths_product(1)
    row["Price"] = "3.50"
    with pytest.raises(ShapeError) as caught:
        parse_listing(woolworths_page([woolworths_product(0), row], 2))
    assert caught.value.chain == "woolworths"
    assert caught.value.path == "$.Bundles[1].Products[0].Price"


def test_broken_json_inside_category_strings_is_a_shape_error() -> None:
    row = woolworths_product(1)
    row["AdditionalAttributes"]["piescategorynamesjson"] = "[not json"
    with pytest.raises(ShapeError) as caught:
        parse_listing(woolworths_page([row], 1))
    assert "piescategorynamesjson" in caught.value.path


def test_a_missing_stockcode_is_a_shape_error() -> None:
    row = woolworths_product(1)
    del row["Stockcode"]
    with pytest.raises(ShapeError, match="Stockcode"):
        parse_listing(woolworths_page([row], 1))


def test_an_unknown_cup_measure_is_a_shape_error() -> None:
    with pytest.raises(ShapeError, match="CupMeasure"):
        _one(cup_measure="PER SQUIRT")


def _node(
    node_id: str, name: str, count: int, children: list[dict[str, object]] | None = None
) -> dict[str, object]:
    return {
        "NodeId": node_id,
        "Description": name,
        "UrlFriendlyName": name.lower().replace(" ", "-"),
        "NodeLevel": 1,
        "ProductCount": count,
        "IsSpecial": False,
        "Children": children or [],
    }


def test_the_category_tree_skips_specials_market_and_front_of_store() -> None:
    tree = {
        "Categories": [
            _node("1-AAAA", "Pantry", 10),
            {**_node("1_SPECIALS", "Specials", 0), "UrlFriendlyName": "specials-group-specials"},
            _node("1_EVERYDAYMARKET", "Everyday Market", 0),
            _node("1_FRONTOFSTORE", "Front of Store", 0),
        ]
    }
    assert [n["NodeId"] for n in parse_category_tree(tree)] == ["1-AAAA"]


def test_a_department_over_the_row_cap_is_paged_by_its_children() -> None:
    big = _node(
        "1-BIG", "Pantry", 12_000, [_node("1_A", "Baking", 7_000), _node("1_B", "Tins", 5_000)]
    )
    small = _node("1-SMALL", "Bakery", 900, [_node("1_C", "Bread", 900)])
    assert [n["NodeId"] for n in full_nodes([big, small])] == ["1_A", "1_B", "1-SMALL"]
    assert [n["NodeId"] for n in spot_nodes([big, small])] == ["1_A", "1_B", "1_C"]


def test_a_spot_check_keeps_a_department_whose_children_hold_less_than_a_page_each() -> None:
    tiny = _node("1-T", "Deli", 60, [_node("1_D", "Cheese", 30), _node("1_E", "Olives", 30)])
    roomy = _node("1-R", "Dairy", 80, [_node("1_F", "Milk", 40), _node("1_G", "Yoghurt", 40)])
    assert [n["NodeId"] for n in spot_nodes([tiny, roomy], page_size=36)] == ["1-T", "1_F", "1_G"]
