"""Product resolution: (company, SKU), then barcode, then normalised brand+name+size."""

from __future__ import annotations

from typing import Any

from splitcart_ingest import models
from splitcart_ingest.catalogue import ProductRow, match_key
from splitcart_shared.events import NormalisedProduct


async def _two_chains(harness: Any) -> None:
    await harness.discover("coles", [harness.make_store("100")])
    await harness.discover("woolworths", [harness.make_store("200")])


async def test_the_same_sku_is_the_same_product_even_when_renamed(harness: Any) -> None:
    p = harness.make_product
    await _two_chains(harness)
    await harness.scrape([p("1", name="Milk 2L")])
    first = await harness.product_row("coles", "1")
    await harness.scrape([p("1", name="Full Cream Milk 2L", image_url="https://img/1.jpg")])
    renamed = await harness.product_row("coles", "1")
    assert renamed["id"] == first["id"]
    assert renamed["name"] == "Full Cream Milk 2L" and renamed["image_url"] == "https://img/1.jpg"
    assert await harness.count(models.products) == 1


async def test_a_barcode_links_the_same_product_across_chains(harness: Any) -> None:
    p = harness.make_product
    await _two_chains(harness)
    await harness.scrape(
        [p("W1", name="Choc Bar", barcode="9300000000011")], store_id="200", company="woolworths"
    )
    await harness.scrape([p("C9", name="Chocolate 50g Bar", barcode="9300000000011")])
    coles = await harness.product_row("coles", "C9")
    woolies = await harness.product_row("woolworths", "W1")
    assert coles["id"] != woolies["id"]
    assert coles["item_id"] == woolies["item_id"]


async def test_normalised_brand_name_and_size_link_products_across_chains(harness: Any) -> None:
    p = harness.make_product
    await _two_chains(harness)
    await harness.scrape(
        [p("W1", brand="Dairy Farmers", name="Dairy Farmers Full Cream Milk", size="2 L")],
        store_id="200",
        company="woolworths",
    )
    await harness.scrape([p("C1", brand="DAIRY FARMERS", name="Full Cream Milk", size="2L")])
    coles = await harness.product_row("coles", "C1")
    woolies = await harness.product_row("woolworths", "W1")
    assert coles["item_id"] == woolies["item_id"]


async def test_two_skus_normalising_alike_stay_two_products(harness: Any) -> None:
    p = harness.make_product
    await _two_chains(harness)
    await harness.scrape(
        [p("W1", name="Bananas", size="1kg")], store_id="200", company="woolworths"
    )
    await harness.scrape(
        [p("C1", name="Bananas", size="1kg"), p("C2", name="BANANAS", size="1 kg")]
    )
    c1, c2 = await harness.product_row("coles", "C1"), await harness.product_row("coles", "C2")
    woolies = await harness.product_row("woolworths", "W1")
    assert c1["id"] != c2["id"]
    assert c1["item_id"] != c2["item_id"]
    assert woolies["item_id"] in (c1["item_id"], c2["item_id"])


async def test_a_later_sku_of_the_same_company_never_joins_an_item_it_already_holds(
    harness: Any,
) -> None:
    p = harness.make_product
    await _two_chains(harness)
    await harness.scrape(
        [p("W1", name="Rice", barcode="93111")], store_id="200", company="woolworths"
    )
    await harness.scrape([p("C1", name="Rice", barcode="93111")])
    await harness.scrape(
        [p("C1", name="Rice", barcode="93111"), p("C2", name="Rice", barcode="93111")]
    )
    c1, c2 = await harness.product_row("coles", "C1"), await harness.product_row("coles", "C2")
    assert c1["item_id"] == (await harness.product_row("woolworths", "W1"))["item_id"]
    assert c2["item_id"] not in (None, c1["item_id"])


async def test_a_barcode_match_wins_over_a_name_match(harness: Any) -> None:
    p = harness.make_product
    await _two_chains(harness)
    await harness.scrape(
        [p("W1", name="Oats", barcode="9310"), p("W2", name="Rolled Oats")],
        store_id="200",
        company="woolworths",
    )
    await harness.scrape([p("C1", name="Rolled Oats", barcode="9310")])
    coles = await harness.product_row("coles", "C1")
    assert coles["item_id"] == (await harness.product_row("woolworths", "W1"))["item_id"]


async def test_an_unmatched_product_is_its_own_item(harness: Any) -> None:
    await _two_chains(harness)
    await harness.scrape([harness.make_product("C1", name="Something Unique")])
    row = await harness.product_row("coles", "C1")
    assert row["item_id"] == row["id"]


async def test_enriched_barcodes_are_set_and_link_products_across_chains(harness: Any) -> None:
    p = harness.make_product
    await _two_chains(harness)
    await harness.scrape(
        [p("W1", name="Tea Bags 100pk", barcode="9300605")], store_id="200", company="woolworths"
    )
    await harness.scrape([p("C1", name="Black Tea 100 Pack")])
    await harness.enrich("coles", {"C1": "9300605", "C-unknown": "123"})
    coles = await harness.product_row("coles", "C1")
    assert coles["barcode"] == "9300605"
    assert coles["item_id"] == (await harness.product_row("woolworths", "W1"))["item_id"]


async def test_a_scrape_without_a_barcode_keeps_the_enriched_one(harness: Any) -> None:
    p = harness.make_product
    await _two_chains(harness)
    await harness.scrape([p("C1")])
    await harness.enrich("coles", {"C1": "9300605"})
    await harness.scrape([p("C1")])
    assert (await harness.product_row("coles", "C1"))["barcode"] == "9300605"


async def test_redelivered_enrichment_changes_nothing(harness: Any) -> None:
    await _two_chains(harness)
    await harness.scrape([harness.make_product("C1")])
    envelope = await harness.enrich("coles", {"C1": "9300605"})
    before = await harness.state()
    await harness.deliver(envelope.typed(), envelope)
    assert await harness.state() == before


def test_match_key_ignores_case_spacing_punctuation_and_a_repeated_brand() -> None:
    assert match_key("Dairy Farmers", "Dairy Farmers Full-Cream Milk", "2 L") == match_key(
        "DAIRY FARMERS", "full cream milk", "2L"
    )
    assert match_key("Coles", "Milk", "2L") != match_key("Coles", "Milk", "3L")
    assert match_key(None, "Bread & Butter", None) == match_key(None, "bread and butter", None)


def test_the_fast_validator_accepts_exactly_the_normalised_product_fields() -> None:
    assert set(ProductRow.__annotations__) == set(NormalisedProduct.model_fields)
