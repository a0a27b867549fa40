"""The scraper service: its definition (entry point ``splitcart.services``) and ASGI app."""

from __future__ import annotations

from splitcart_shared.runtime import ServiceDefinition
from splitcart_scraper.settings import get_settings

service = ServiceDefinition(
    name="scraper",
    description="Stateless workers: store discovery, catalogue scrapes, spot checks, barcode enrichment.",
    settings_factory=get_settings,
)
