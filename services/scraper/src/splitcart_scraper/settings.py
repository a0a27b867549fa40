"""Settings of the scraper service (environment prefix ``SPLITCART_``)."""

from __future__ import annotations

import socket

from pydantic import Field
from splitcart_shared.events import COMPANIES, Company
from splitcart_shared.settings import CommonSettings


class ScraperSettings(CommonSettings):
    """The worker's own knobs; retailer endpoints and politeness live in
    :class:`splitcart_scraper.adapters.settings.ScraperRetailerSettings`."""

    scraper_worker_id: str = Field(default_factory=lambda: f"{socket.gethostname()}-scraper")
    scraper_companies: list[Company] = Field(default_factory=lambda: list(COMPANIES))
    scraper_concurrency: int = Field(default=4, ge=1, le=256)
    scraper_heartbeat_seconds: float = Field(default=60.0, gt=0)
    scraper_idle_seconds: float = Field(default=1.0, gt=0)
    scraper_spot_fraction: float = Field(default=0.1, gt=0, le=1)
    # A spot check goes on past its bucket until it holds this many products (enough for
    # the grouper's ``min_shared``).
    scraper_spot_min_products: int = Field(default=150, ge=0)
    scraper_shutdown_grace_seconds: float = Field(default=20.0, ge=0)
    # Store-locator sweeps: at start-up and then every interval (on the shared clock).
    scraper_discovery: bool = True
    scraper_discovery_interval_hours: float = Field(default=168.0, gt=0)
    # Off: the service only serves its API (tests, or a deployment that scrapes elsewhere).
    scraper_worker_enabled: bool = True


def get_settings() -> ScraperSettings:
    return ScraperSettings()
