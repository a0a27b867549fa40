"""The parse benchmark runs offline on recorded pages of every chain (no timing asserted)."""

from __future__ import annotations

import orjson
from splitcart_scraper.adapters.parsers import PARSERS
from splitcart_scraper.bench_parse import BUILDERS, recorded_pages, run_bench


def test_recorded_pages_parse_in_every_chain() -> None:
    for company in BUILDERS:
        page = PARSERS[company](orjson.loads(recorded_pages(company, 1)[0]))
        assert page.products
        assert page.total >= len(page.products)


def test_the_bench_reports_products_per_second_per_core() -> None:
    report = run_bench(pages=2, rounds=1)
    assert report["products_per_second_per_core"] > 0
    assert set(report["per_chain_products_per_second"]) == set(BUILDERS)
    assert report["products"] > 0
