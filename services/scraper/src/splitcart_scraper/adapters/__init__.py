"""Retailer adapters: store discovery, catalogue scrapes and spot checks per chain.

The worker's whole API::

    adapter = get_adapter("coles")                       # once per company and process
    discovery = await adapter.discover_stores()          # -> StoreDiscovery (.to_event())
    result = await adapter.scrape(StoreTarget("coles", "COL:858"), "spot", rotation=n)
    event = result.to_event(lease_token)                 # StoreScraped payload
    await adapter.aclose()
"""

from .base import (
    CatalogueAdapter,
    Category,
    ParsedPage,
    ProgressCallback,
    RetailerAdapter,
    ScrapeProgress,
    ScrapeResult,
    StoreDiscovery,
    StoreTarget,
    spot_sample,
)
from .coles import ColesAdapter
from .errors import (
    AdapterError,
    BlockedError,
    MalformedBodyError,
    NetworkOutageError,
    RetailerUnavailableError,
    SessionRequiredError,
    ShapeError,
    StoreUnavailableError,
    UnexpectedStatusError,
)
from .parsers import PARSERS, parse_listing
from .registry import get_adapter
from .settings import ScraperRetailerSettings

__all__ = [
    "PARSERS",
    "AdapterError",
    "BlockedError",
    "CatalogueAdapter",
    "Category",
    "ColesAdapter",
    "MalformedBodyError",
    "NetworkOutageError",
    "ParsedPage",
    "ProgressCallback",
    "RetailerAdapter",
    "RetailerUnavailableError",
    "ScrapeProgress",
    "ScrapeResult",
    "ScraperRetailerSettings",
    "SessionRequiredError",
    "ShapeError",
    "StoreDiscovery",
    "StoreTarget",
    "StoreUnavailableError",
    "UnexpectedStatusError",
    "get_adapter",
    "parse_listing",
    "spot_sample",
]
