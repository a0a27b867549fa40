"""Build the adapter of a company from settings: the one place that wires clients."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from splitcart_shared.events import Company

from .aldi import AldiAdapter
from .base import CatalogueAdapter
from .coles import ColesAdapter
from .http import RetailerHttp, Sleep, parse_cookie_setting
from .iga import IgaAdapter
from .settings import ScraperRetailerSettings
from .woolworths import WoolworthsAdapter


def get_adapter(
    company: Company,
    settings: ScraperRetailerSettings | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Sleep = asyncio.sleep,
) -> CatalogueAdapter:
    """The adapter of ``company`` with its own shared HTTP client. Create it at worker
    start, reuse it for every lease of that company, ``await adapter.aclose()`` at shutdown.
    ``transport`` swaps the network (tests, the in-process sandbox)."""
    settings = settings or ScraperRetailerSettings()
    http = RetailerHttp(
        company,
        settings.base_url(company),
        policy=settings.retry_policy(company),
        rps=settings.rps(company),
        headers={"User-Agent": settings.user_agent, "Accept-Language": "en-AU,en;q=0.9"},
        transport=transport,
        sleep=sleep,
    )
    if company == "woolworths":
        return WoolworthsAdapter(http, parse_cookie_setting(settings.woolworths_session_cookies))
    if company == "coles":
        cookies = parse_cookie_setting(settings.coles_cookie_jar)
        return ColesAdapter(http, cookies, settings.coles_subscription_key)
    if company == "aldi":
        ttl = timedelta(seconds=settings.aldi_tree_ttl_seconds)
        return AldiAdapter(http, settings.aldi_locator_grid_step, ttl)
    if company == "iga":
        return IgaAdapter(http, settings.iga_locator_url)
    raise ValueError(f"no adapter for company {company!r}")
