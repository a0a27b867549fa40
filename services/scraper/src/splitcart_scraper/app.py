"""The scraper service: stateless workers (entry point ``splitcart.services``).

It owns no schema. Its lifespan builds one adapter (one HTTP client) per chain, and runs the
lease workers and the store-locator sweeps; it publishes straight to the bus with
publisher confirms (embedded: delivered in-process to ingest's handlers).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

from splitcart_shared.clock import clock
from splitcart_shared.events import Company
from splitcart_shared.logging import get_logger
from splitcart_shared.runtime import Runtime, ServiceDefinition

from splitcart_scraper.adapters.base import CatalogueAdapter
from splitcart_scraper.api import router
from splitcart_scraper.settings import ScraperSettings, get_settings
from splitcart_scraper.worker import ScraperWorker, WorkerConfig, build_adapters, discover

log = get_logger(__name__)


async def setup(runtime: Runtime) -> None:
    settings = runtime.settings
    assert isinstance(settings, ScraperSettings)
    adapters = build_adapters(list(settings.scraper_companies))
    runtime.state["adapters"] = adapters
    for adapter in adapters.values():
        runtime.on_close(adapter.aclose)
    if settings.scraper_discovery:
        runtime.spawn(discovery_loop(runtime, adapters, settings), "discovery")
    if settings.scraper_worker_enabled:
        worker = ScraperWorker(
            WorkerConfig(
                worker_id=settings.scraper_worker_id,
                companies=list(settings.scraper_companies),
                concurrency=settings.scraper_concurrency,
                heartbeat_seconds=settings.scraper_heartbeat_seconds,
                idle_seconds=settings.scraper_idle_seconds,
                shutdown_grace_seconds=settings.scraper_shutdown_grace_seconds,
                spot_fraction=settings.scraper_spot_fraction,
                spot_min_products=settings.scraper_spot_min_products,
            ),
            runtime.client(settings.scheduler_url),
            runtime.bus,
            adapters,
            runtime.stopping,
        )
        runtime.state["worker"] = worker
        runtime.spawn(worker.run(), "worker")


async def discovery_loop(
    runtime: Runtime, adapters: dict[Company, CatalogueAdapter], settings: ScraperSettings
) -> None:
    """Sweep every company's store locator now and whenever the interval has passed."""
    interval = timedelta(hours=settings.scraper_discovery_interval_hours)
    last: dict[str, datetime] = {}
    while not runtime.stopping.is_set():
        for company, adapter in adapters.items():
            if company in last and clock.now() - last[company] < interval:
                continue
            try:
                await discover(adapter, runtime.bus)
                last[company] = clock.now()
            except Exception as exc:
                log.warning("discovery.failed", company=company, error=str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(runtime.stopping.wait(), timeout=5.0)


service = ServiceDefinition(
    name="scraper",
    description=(
        "Stateless workers: store discovery, catalogue scrapes, spot checks, barcode enrichment."
    ),
    settings_factory=get_settings,
    routers=[router],
    setup=setup,
)
