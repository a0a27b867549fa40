"""Scraper metrics."""

from __future__ import annotations

from prometheus_client import Counter

RETAILER_REQUESTS = Counter(
    "splitcart_scraper_retailer_requests_total", "HTTP requests sent to retailers", ["company"]
)
PRODUCTS_SCRAPED = Counter(
    "splitcart_scraper_products_total", "Products scraped and published", ["company", "kind"]
)
LEASES = Counter("splitcart_scraper_leases_total", "Leases by outcome", ["company", "outcome"])
