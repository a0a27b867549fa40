"""Parse benchmark: products per second per core, parse + normalise, no network.

Recorded listing pages are generated in memory in each retailer's real shape (full-size
rows, sponsored rows and ad tiles mixed in, specials and unavailable products), encoded
to bytes once, then decoded and parsed in a single process. ``run_sandbox_bench`` scrapes
a running sandbox end to end with politeness off.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Callable
from typing import Any

import orjson
from splitcart_shared.events import Company

import splitcart_scraper.adapters.samples as samples
from splitcart_scraper.adapters.base import ParsedPage, StoreTarget
from splitcart_scraper.adapters.parsers import PARSERS

PAGES_PER_CHAIN = 120
ROUNDS = 3
TARGET_PER_CORE = 20_000
_ALDI_UNITS = ("100 g", "1 kg", "1 l", "1 ea")


def _price(rng: random.Random) -> float:
    return rng.randrange(60, 25_000) / 100


def _woolworths_page(rng: random.Random, n: int) -> dict[str, Any]:
    rows = []
    for k in range(36):
        price = _price(rng)
        special = rng.random() < 0.15
        rows.append(
            samples.woolworths_product(
                100_000 + n * 36 + k,
                price=None if rng.random() < 0.03 else price,
                was=round(price * 1.25, 2) if special else None,
                cup_price=round(price / 5, 2),
                cup_measure=rng.choice(("100G", "100ML", "1KG", "1EA")),
                market=rng.random() < 0.02,
            )
        )
    rows.insert(2, samples.woolworths_product(999_000 + n, sponsored=True))
    page: dict[str, Any] = samples.woolworths_page(rows, 36 * PAGES_PER_CHAIN)
    return page


def _coles_page(rng: random.Random, n: int) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for k in range(48):
        now = _price(rng)
        rows.append(
            samples.coles_product(
                1_000_000 + n * 48 + k,
                now=now,
                was=round(now * 1.2, 2) if rng.random() < 0.15 else 0,
                unit_price=round(now * 4, 2),
                unit_units=rng.choice(("kg", "l", "ea")),
                available=rng.random() > 0.03,
            )
        )
    rows.insert(3, samples.coles_tile())
    page: dict[str, Any] = samples.coles_page(rows, 48 * PAGES_PER_CHAIN)
    return page


def _aldi_page(rng: random.Random, n: int) -> dict[str, Any]:
    rows = []
    for k in range(30):
        amount = rng.randrange(60, 25_000)
        rows.append(
            samples.aldi_product(
                f"{100_000 + n * 30 + k:018d}",
                amount=amount,
                was_display=f"${amount * 1.2 / 100:.2f}" if rng.random() < 0.1 else None,
                comparison=amount * 2,
                comparison_display=f"${amount * 2 / 100:.2f} per {rng.choice(_ALDI_UNITS)}",
                not_for_sale=rng.random() < 0.03,
            )
        )
    page: dict[str, Any] = samples.aldi_page(rows, 30 * PAGES_PER_CHAIN, offset=n * 30)
    return page


def _iga_page(rng: random.Random, n: int) -> dict[str, Any]:
    rows = []
    for k in range(36):
        whole = _price(rng)
        rows.append(
            samples.iga_item(
                str(1_000 + n * 36 + k),
                whole=whole,
                special=round(whole * 0.8, 2) if rng.random() < 0.15 else None,
                per_unit=f"${whole / 2:.2f}/{rng.choice(('100g', '100ml', 'kg', 'l', 'ea'))}",
                available=rng.random() > 0.03,
            )
        )
    page: dict[str, Any] = samples.iga_page(rows, 36 * PAGES_PER_CHAIN)
    return page


BUILDERS: dict[Company, Callable[[random.Random, int], dict[str, Any]]] = {
    "woolworths": _woolworths_page,
    "coles": _coles_page,
    "aldi": _aldi_page,
    "iga": _iga_page,
}


def recorded_pages(company: Company, pages: int = PAGES_PER_CHAIN, seed: int = 7) -> list[bytes]:
    """Listing responses of ``company`` as the retailer sends them (bytes)."""
    rng = random.Random(seed)
    return [orjson.dumps(BUILDERS[company](rng, n)) for n in range(pages)]


def _parse_all(company: Company, pages: list[bytes]) -> int:
    parse: Callable[[Any], ParsedPage] = PARSERS[company]
    return sum(len(parse(orjson.loads(body)).products) for body in pages)


def run_bench(pages: int = PAGES_PER_CHAIN, rounds: int = ROUNDS) -> dict[str, Any]:
    """Products per second per core for decode + parse + normalise, per chain and overall
    (best of ``rounds``, single process and thread)."""
    per_chain: dict[str, float] = {}
    total_products, total_seconds = 0, 0.0
    for company in BUILDERS:
        recorded = recorded_pages(company, pages)
        best = float("inf")
        products = 0
        for _ in range(rounds):
            started = time.process_time()
            products = _parse_all(company, recorded)
            best = min(best, time.process_time() - started)
        per_chain[company] = round(products / best) if best > 0 else float("inf")
        total_products += products
        total_seconds += best
    rate = round(total_products / total_seconds) if total_seconds > 0 else float("inf")
    return {
        "products_per_second_per_core": rate,
        "per_chain_products_per_second": per_chain,
        "products": total_products,
        "target_per_core": TARGET_PER_CORE,
        "meets_target": rate >= TARGET_PER_CORE,
        "cores_available": os.cpu_count(),
    }


async def _scrape_stores(base_urls: dict[str, str], stores: int) -> dict[str, Any]:
    from splitcart_scraper.adapters.registry import get_adapter
    from splitcart_scraper.adapters.settings import ScraperRetailerSettings

    settings = ScraperRetailerSettings(
        coles_base_url=base_urls["coles"],
        woolworths_base_url=base_urls["woolworths"],
        aldi_base_url=base_urls["aldi"],
        iga_base_url=base_urls["iga"],
        iga_locator_url=base_urls.get("iga_locator", base_urls["iga"] + "-locator"),
        coles_rps=0,
        woolworths_rps=0,
        aldi_rps=0,
        iga_rps=0,
        woolworths_session_cookies=base_urls.get("woolworths_cookies", '{"w-auth": "bench"}'),
        coles_cookie_jar=base_urls.get("coles_cookies", "visid_incap_1=bench; incap_ses_1_1=bench"),
    )
    adapters = {company: get_adapter(company, settings) for company in BUILDERS}
    try:
        started = time.perf_counter()
        discoveries = [await adapter.discover_stores() for adapter in adapters.values()]
        discovering = time.perf_counter() - started
        targets = [
            StoreTarget(d.company, s.store_id, s.retailer_store_id)
            for d in discoveries
            for s in [s for s in d.stores if s.scrapable][:stores]
        ]
        started = time.perf_counter()
        # Stores are scraped concurrently, as a fleet of workers would.
        results = await asyncio.gather(*(adapters[t.company].scrape(t, "full") for t in targets))
        scraping = time.perf_counter() - started
    finally:
        for adapter in adapters.values():
            await adapter.aclose()
    products = sum(len(r.products) for r in results)
    return {
        "sandbox_products_per_second": round(products / scraping) if scraping > 0 else 0,
        "sandbox_products": products,
        "sandbox_requests": sum(r.requests_made for r in results),
        "sandbox_stores": len(targets),
        "sandbox_complete": all(r.complete for r in results),
        "sandbox_scrape_seconds": round(scraping, 3),
        "sandbox_discovery_seconds": round(discovering, 3),
    }


def run_sandbox_bench(base_urls: dict[str, str], stores_per_chain: int = 2) -> dict[str, Any]:
    """Scrape a few stores per chain end to end against a running sandbox (politeness off).

    ``base_urls`` maps company → base (``http://127.0.0.1:8700/coles``), plus optionally
    ``iga_locator``. Store discovery is timed apart: its sweeps (Aldi's grid, IGA's
    localities) are not catalogue work."""
    return asyncio.run(_scrape_stores(base_urls, stores_per_chain))


if __name__ == "__main__":
    print(orjson.dumps(run_bench(), option=orjson.OPT_INDENT_2).decode())
