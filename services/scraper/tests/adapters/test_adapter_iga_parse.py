"""IGA search pages and locator answers → normalised products and stores."""

from __future__ import annotations

import html

import orjson
import pytest
from splitcart_scraper.adapters.errors import ShapeError
from splitcart_scraper.adapters.iga import parse_listing, parse_locator
from splitcart_scraper.adapters.samples import iga_item, iga_page
from splitcart_shared.events import NormalisedProduct


def _one(**kwargs: object) -> dict[str, object]:
    return parse_listing(iga_page([iga_item("673701", **kwargs)], 1)).products[0]  # type: ignore[arg-type]


def test_a_regular_product_is_normalised_exactly() -> None:
    product = _one()
    assert product == {
        "sku": "673701",
        "name": "Ayam Coconut Cream Regular",
        "brand": "Ayam",
        "size": "200ml",
        "barcode": "9556041641005",
        "category_path": ["Grocery", "Drinks", "Long Life Milk", "Coconut Milk"],
        "price_cents": 350,
        "was_price_cents": None,
        "unit_price_cents": 175,
        "unit_measure": "100mL",
        "on_special": False,
        "available": True,
        "url": "https://www.igashop.com.au/product/673701",
        "image_url": "https://cdn.metcash.media/igashop/images/673701.jpg",
    }
    NormalisedProduct.model_validate(product)


def test_a_tpr_price_is_the_special_and_the_whole_price_what_it_was() -> None:
    product = _one(whole=3.5, special=2.8)
    assert (product["price_cents"], product["was_price_cents"]) == (280, 350)
    assert product["on_special"] is True


def test_was_whole_price_alone_also_marks_a_special() -> None:
    item = iga_item("1", whole=2.8)
    item["wasWholePrice"] = 3.5
    product = parse_listing(iga_page([item], 1)).products[0]
    assert (product["price_cents"], product["was_price_cents"], product["on_special"]) == (
        280,
        350,
        True,
    )


@pytest.mark.parametrize(
    ("text", "cents", "measure"),
    [("$1.75/100ml", 175, "100mL"), ("$3.35/l", 335, "1L"), ("$12.00/kg", 1200, "1kg")],
)
def test_price_per_unit_text_gives_the_unit(text: str, cents: int, measure: str) -> None:
    product = _one(per_unit=text)
    assert (product["unit_price_cents"], product["unit_measure"]) == (cents, measure)


def test_unavailable_keeps_its_price() -> None:
    product = _one(available=False)
    assert (product["available"], product["price_cents"]) == (False, 350)


def test_an_unreadable_unit_price_is_a_shape_error() -> None:
    with pytest.raises(ShapeError) as caught:
        _one(per_unit="about a dollar")
    assert caught.value.path == "$.items[0].pricePerUnit"


def test_missing_total_is_a_shape_error() -> None:
    with pytest.raises(ShapeError) as caught:
        parse_listing({"items": []})
    assert caught.value.path == "$.total"


def test_the_locator_jsonp_yields_stores_with_and_without_a_shop() -> None:
    records = [
        {
            "storeId": "14150",
            "retailerStoreId": "33299",
            "storeName": "IGA Swinger Hill",
            "address": "84 Ainsworth Street\r\n",
            "suburb": "Swinger Hill",
            "state": "ACT",
            "postcode": "2606",
            "latitude": "-35.347978000000000",
            "longitude": "149.0948",
        },
        {
            "storeId": "16911",
            "retailerStoreId": "",
            "storeName": "IGA Nowhere",
            "address": "1 Main St",
            "suburb": "Nowhere",
            "state": "ACT",
            "postcode": "2600",
            "latitude": "0",
            "longitude": "0",
        },
    ]
    content = "".join(
        f'<div class="store" data-storedata="{html.escape(orjson.dumps(r).decode())}"></div>'
        for r in records
    )
    body = "cb(" + orjson.dumps({"content": content}).decode() + ")"
    stores = parse_locator(body)
    assert [(s.store_id, s.retailer_store_id, s.scrapable) for s in stores] == [
        ("14150", "33299", True),
        ("16911", None, False),
    ]
    assert stores[0].latitude == pytest.approx(-35.347978)
    assert stores[1].latitude is None
    assert stores[0].address == "84 Ainsworth Street"
