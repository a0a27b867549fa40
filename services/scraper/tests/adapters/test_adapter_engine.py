"""The paging engine every chain shares, driven by a scripted in-memory retailer."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest
from splitcart_scraper.adapters.base import (
    CatalogueAdapter,
    Category,
    ParsedPage,
    StoreDiscovery,
    StoreTarget,
    spot_sample,
)
from splitcart_scraper.adapters.errors import RetailerUnavailableError
from splitcart_scraper.adapters.http import RetailerHttp, RetailerSession
from splitcart_shared.events import ScrapeKind

STORE = StoreTarget("aldi", "G102")


def _product(sku: str) -> dict[str, object]:
    return {"sku": sku, "name": f"Product {sku}", "price_cents": 100}


class ScriptedRetailer(CatalogueAdapter):
    """Categories of SKUs served ``page_size`` at a time, with scripted misbehaviour."""

    company = "aldi"
    page_size = 3

    def __init__(self, catalogue: dict[str, list[str]]) -> None:
        super().__init__(
            RetailerHttp(
                "aldi",
                "http://unused.test",
                transport=httpx.MockTransport(lambda request: httpx.Response(500)),
            )
        )
        self.catalogue = catalogue
        self.requested: Counter[tuple[str, int]] = Counter()
        self.short_once: set[tuple[str, int]] = set()
        self.short_always: set[tuple[str, int]] = set()
        self.wrong_store_once: set[tuple[str, int]] = set()
        self.wrong_store_always = False
        self.failing: set[tuple[str, int]] = set()
        self.repeat_last_page = False
        self.total_overstated_by = 0

    async def discover_stores(self) -> StoreDiscovery:
        raise NotImplementedError

    async def open_session(self, store: StoreTarget) -> RetailerSession:
        return self.http.session()

    async def categories(
        self, session: RetailerSession, store: StoreTarget, kind: ScrapeKind
    ) -> list[Category]:
        return [Category(key, key, len(skus)) for key, skus in self.catalogue.items()]

    async def fetch_page(
        self, session: RetailerSession, store: StoreTarget, category: Category, index: int
    ) -> ParsedPage | None:
        where = (category.key, index)
        self.requested[where] += 1
        session.requests_made += 1
        if where in self.failing:
            raise RetailerUnavailableError("aldi", "http://unused.test", 503, 5)
        skus = self.catalogue[category.key]
        start = index * self.page_size
        if self.repeat_last_page and start >= len(skus):
            start = (len(skus) - 1) // self.page_size * self.page_size
        rows = [_product(s) for s in skus[start : start + self.page_size]]
        first_time = self.requested[where] == 1
        if where in self.short_always or (where in self.short_once and first_time):
            rows = rows[:1]
        served = "G999" if self.wrong_store_always else store.store_id
        if where in self.wrong_store_once and first_time:
            served = "G999"
        return ParsedPage(rows, len(skus) + self.total_overstated_by, served)


def _catalogue() -> dict[str, list[str]]:
    return {"bakery": ["1", "2", "3", "4", "5", "6", "7"], "dairy": ["8", "9", "4"]}


async def test_pages_are_requested_exactly_as_the_totals_say() -> None:
    retailer = ScriptedRetailer(_catalogue())
    result = await retailer.scrape(STORE, "full")
    assert sorted(retailer.requested) == [("bakery", 0), ("bakery", 1), ("bakery", 2), ("dairy", 0)]
    assert result.complete
    assert result.requests_made == 4


async def test_a_category_the_tree_counts_empty_is_not_requested() -> None:
    retailer = ScriptedRetailer({**_catalogue(), "liquor": []})
    full = await retailer.scrape(STORE, "full")
    spot = await retailer.scrape(STORE, "spot", spot_fraction=0.5, spot_min_products=100)
    assert ("liquor", 0) not in retailer.requested
    assert full.complete and full.categories_scraped == ["bakery", "dairy"]
    assert full.requests_made == 4
    assert spot.categories_scraped == ["bakery", "dairy"]


async def test_a_category_without_a_count_is_paged() -> None:
    class Uncounted(ScriptedRetailer):
        async def categories(
            self, session: RetailerSession, store: StoreTarget, kind: ScrapeKind
        ) -> list[Category]:
            return [Category(key, key) for key in self.catalogue]

    retailer = Uncounted({**_catalogue(), "liquor": ["10"]})
    result = await retailer.scrape(STORE, "full")
    assert ("liquor", 0) in retailer.requested
    assert "10" in {p["sku"] for p in result.products}


async def test_a_product_listed_in_two_categories_is_one_product() -> None:
    result = await ScriptedRetailer(_catalogue()).scrape(STORE, "full")
    assert sorted(p["sku"] for p in result.products) == [str(i) for i in range(1, 10)]
    # The totals say 10 rows; one product is listed twice, so 9 are expected.
    assert result.expected_count == 9
    assert result.categories_scraped == ["bakery", "dairy"]


async def test_a_page_short_once_is_asked_again_and_the_scrape_stays_complete() -> None:
    retailer = ScriptedRetailer(_catalogue())
    retailer.short_once.add(("bakery", 1))
    result = await retailer.scrape(STORE, "full")
    assert retailer.requested[("bakery", 1)] == 2
    assert result.complete
    assert len(result.products) == 9


async def test_a_page_that_stays_short_makes_the_scrape_incomplete() -> None:
    retailer = ScriptedRetailer(_catalogue())
    retailer.short_always.add(("bakery", 0))
    result = await retailer.scrape(STORE, "full")
    assert not result.complete
    assert result.incomplete_reason is not None and "bakery page 0" in result.incomplete_reason
    assert result.expected_count == 9
    assert len(result.products) == 7


async def test_a_page_from_another_store_once_is_replaced_by_the_right_one() -> None:
    retailer = ScriptedRetailer(_catalogue())
    retailer.wrong_store_once.add(("dairy", 0))
    result = await retailer.scrape(STORE, "full")
    assert result.complete
    assert result.served_store_id == "G102"
    assert len(result.products) == 9


async def test_a_store_served_from_elsewhere_keeps_nothing_and_says_which() -> None:
    retailer = ScriptedRetailer(_catalogue())
    retailer.wrong_store_always = True
    result = await retailer.scrape(STORE, "full")
    assert result.served_store_id == "G999"
    assert result.served_store_mismatch
    assert result.products == []
    assert retailer.requested[("dairy", 0)] == 0  # stopped at once, no wasted pages


async def test_a_failing_page_stops_the_scrape_and_marks_it_incomplete() -> None:
    retailer = ScriptedRetailer(_catalogue())
    retailer.failing.add(("bakery", 1))
    result = await retailer.scrape(STORE, "full")
    assert not result.complete
    assert result.incomplete_reason is not None and "page failed" in result.incomplete_reason
    assert [p["sku"] for p in result.products] == ["1", "2", "3"]


async def test_a_repeated_last_page_ends_the_category_as_short() -> None:
    retailer = ScriptedRetailer(_catalogue())
    retailer.repeat_last_page = True
    retailer.total_overstated_by = 3  # the total promises a page that never comes
    result = await retailer.scrape(STORE, "full")
    assert not result.complete
    assert sorted(p["sku"] for p in result.products) == [str(i) for i in range(1, 10)]


async def test_progress_is_reported_per_page() -> None:
    seen = []

    async def record(progress: object) -> None:
        seen.append(progress)

    await ScriptedRetailer(_catalogue()).scrape(STORE, "full", on_progress=record)
    assert len(seen) == 4


def test_spot_samples_are_deterministic_and_cycle_through_every_category() -> None:
    categories = [Category(f"c{i:02d}", f"c{i}", (i % 7 + 1) * 36) for i in range(40)]
    cycle = [spot_sample(categories, rotation, 0.1) for rotation in range(10)]
    keys = [c.key for sample in cycle for c in sample]
    assert sorted(keys) == sorted(c.key for c in categories)  # each exactly once per cycle
    assert spot_sample(categories, 3, 0.1) == cycle[3]
    assert spot_sample(categories, 13, 0.1) == cycle[3]
    pages = [sum(c.expected or 0 for c in sample) // 36 for sample in cycle]
    total = sum(pages)
    assert all(0.05 * total <= p <= 0.15 * total for p in pages)


def test_a_spot_sample_of_few_categories_is_never_empty() -> None:
    categories = [Category("a", "a"), Category("b", "b")]
    assert all(spot_sample(categories, r, 0.1) for r in range(5))


@pytest.mark.parametrize("fraction", [0.5, 0.25, 0.1, 0.05])
def test_the_spot_fraction_sets_the_cycle_length(fraction: float) -> None:
    categories = [Category(f"c{i:03d}", "x", 36) for i in range(100)]
    sizes = [len(spot_sample(categories, r, fraction)) for r in range(round(1 / fraction))]
    assert sum(sizes) == 100
    assert max(sizes) == round(100 * fraction)


def test_every_parser_emits_exactly_the_normalised_product_fields_in_order() -> None:
    from splitcart_scraper.adapters import samples
    from splitcart_scraper.adapters.base import PRODUCT_FIELDS
    from splitcart_scraper.adapters.parsers import PARSERS
    from splitcart_shared.events import NormalisedProduct

    pages = {
        "woolworths": samples.woolworths_page([samples.woolworths_product(1)], 1),
        "coles": samples.coles_page([samples.coles_product(1)], 1),
        "aldi": samples.aldi_page([samples.aldi_product("000000000000000001")], 1),
        "iga": samples.iga_page([samples.iga_item("1")], 1),
    }
    assert tuple(NormalisedProduct.model_fields) == PRODUCT_FIELDS
    for company, page in pages.items():
        product = PARSERS[company](page).products[0]  # type: ignore[index]
        assert tuple(product) == PRODUCT_FIELDS, company


def _spread_catalogue(categories: int = 20, per_category: int = 6) -> dict[str, list[str]]:
    return {f"c{i:02d}": [f"c{i:02d}-{j}" for j in range(per_category)] for i in range(categories)}


async def test_a_spot_check_with_enough_products_pages_one_bucket_only() -> None:
    retailer = ScriptedRetailer(_spread_catalogue())
    result = await retailer.scrape(STORE, "spot", rotation=4, spot_min_products=6)
    assert len(result.categories_scraped) == 2  # 20 categories in 10 buckets
    assert len(result.products) == 12


async def test_a_small_spot_check_goes_on_into_the_next_buckets_until_it_can_decide() -> None:
    retailer = ScriptedRetailer(_spread_catalogue())
    result = await retailer.scrape(STORE, "spot", rotation=4, spot_min_products=40)
    # Its own bucket (two categories of 6), then the next buckets' categories one at a
    # time, stopping at the first to reach 40: not the rest of that bucket.
    assert len(result.products) == 42
    order = [c.key for r in range(4, 8) for c in spot_sample(_categories(retailer), r, 0.1)]
    assert result.categories_scraped == order[:7]
    assert len(set(result.categories_scraped)) == len(result.categories_scraped)


async def test_a_spot_check_asking_more_than_the_catalogue_holds_stops_at_the_whole() -> None:
    retailer = ScriptedRetailer(_spread_catalogue())
    result = await retailer.scrape(STORE, "spot", rotation=0, spot_min_products=10_000)
    assert len(result.products) == 120
    assert sum(retailer.requested.values()) == 40  # every page once, none twice


def _categories(retailer: ScriptedRetailer) -> list[Category]:
    return [Category(key, key, len(skus)) for key, skus in retailer.catalogue.items()]


async def test_a_chain_sampling_first_pages_reads_one_page_per_category_and_is_complete() -> None:
    retailer = ScriptedRetailer(_spread_catalogue(per_category=7))  # three pages each
    retailer.spot_pages = 1
    result = await retailer.scrape(STORE, "spot", rotation=4, spot_min_products=12)
    assert result.complete, result.incomplete_reason
    assert set(retailer.requested) == {(key, 0) for key in result.categories_scraped}
    assert len(result.products) == 3 * len(result.categories_scraped) >= 12
    assert result.expected_count == len(result.products)
    # A full scrape still reads every page.
    full = await ScriptedRetailer(_spread_catalogue(per_category=7)).scrape(STORE, "full")
    assert len(full.products) == 140 and full.complete
