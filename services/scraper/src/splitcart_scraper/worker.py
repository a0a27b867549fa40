"""The scraper worker: lease a store from the scheduler, scrape it, publish, complete.

A worker runs ``concurrency`` slots. Each slot loops: ``POST /v1/leases`` → scrape with
heartbeats → publish ``store.scraped`` → ``/complete``; on any failure ``/fail`` with the
error, so the scheduler backs the store off. A scrape whose served store differs from the
requested one, or that is truncated, is never published as that store's prices: the lease
fails with the reason. A network outage fails the lease and backs the slot off, never loops.
On shutdown (SIGTERM) slots stop taking leases; scrapes still running after the grace
period are cancelled and their leases failed, so none is left dangling.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from splitcart_shared.bus import Bus
from splitcart_shared.events import COMPANIES, Company, Envelope, ScrapeKind
from splitcart_shared.logging import get_logger

from splitcart_scraper.adapters.base import CatalogueAdapter, ScrapeResult, StoreTarget
from splitcart_scraper.adapters.errors import AdapterError, NetworkOutageError
from splitcart_scraper.adapters.registry import get_adapter
from splitcart_scraper.adapters.settings import ScraperRetailerSettings
from splitcart_scraper.metrics import LEASES, PRODUCTS_SCRAPED, RETAILER_REQUESTS

log = get_logger(__name__)


@dataclass(frozen=True)
class Lease:
    token: str
    kind: str
    reason: str
    store: StoreTarget
    spot_rotation: int

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Lease:
        store = body["store"]
        return cls(
            token=body["token"],
            kind=body["kind"],
            reason=body.get("reason", ""),
            store=StoreTarget(
                company=store["company"],
                store_id=store["store_id"],
                retailer_store_id=store.get("retailer_store_id"),
            ),
            spot_rotation=int(body.get("spot_rotation") or 0),
        )


PROBE_REASON = "new_store_probe"


def rotation_of(lease: Lease) -> int:
    """The spot bucket to check: the store's own count of spot checks, offset by a stable
    hash of the store, so the stores checked on one day sample different categories (a
    shared bucket would make one store's locally priced lines look like every store's).

    A new store's probe is the exception: every probe of a company reads one bucket, so
    new stores can be compared with one another, not only with existing groups. New
    stores pricing alike then form a group whose one anchor is fully scraped, instead of
    each of them being fully scraped for want of a group to join.
    """
    if lease.reason == PROBE_REASON:
        return zlib.crc32(lease.store.company.encode())
    key = f"{lease.store.company}:{lease.store.store_id}".encode()
    return lease.spot_rotation + zlib.crc32(key)


class LeaseLost(Exception):
    """The scheduler no longer recognises our lease (expired and reclaimed)."""


class ScrapeRefused(Exception):
    """The scrape must not be published (served-store mismatch, truncation)."""


@dataclass
class WorkerConfig:
    worker_id: str
    companies: list[Company]
    concurrency: int = 4
    heartbeat_seconds: float = 60.0
    idle_seconds: float = 1.0
    outage_backoff_cap: float = 60.0
    shutdown_grace_seconds: float = 20.0
    spot_fraction: float = 0.1
    spot_min_products: int = 150


class ScraperWorker:
    def __init__(
        self,
        config: WorkerConfig,
        scheduler: httpx.AsyncClient,
        bus: Bus,
        adapters: dict[Company, CatalogueAdapter],
        stopping: asyncio.Event,
    ) -> None:
        self.config = config
        self.scheduler = scheduler
        self.bus = bus
        self.adapters = adapters
        self.stopping = stopping
        self.completed = 0
        self.failed = 0
        # What this worker spent, for /v1/stats (the simulation's brute-force baseline
        # costs each store at its measured full-scrape requests).
        self.scrapes: dict[str, dict[str, int]] = {"full": {}, "spot": {}}
        self.requests: dict[str, dict[str, int]] = {"full": {}, "spot": {}}
        self.full_scrape_requests: dict[str, dict[str, int]] = {}

    async def run(self) -> None:
        slots = [asyncio.create_task(self._slot(i)) for i in range(self.config.concurrency)]
        await self.stopping.wait()
        _, pending = await asyncio.wait(slots, timeout=self.config.shutdown_grace_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*slots, return_exceptions=True)

    async def _slot(self, index: int) -> None:
        outages = 0
        while not self.stopping.is_set():
            try:
                lease = await self._lease()
            except httpx.HTTPError as exc:
                log.warning("worker.scheduler_unreachable", slot=index, error=str(exc))
                await self._pause(min(self.config.outage_backoff_cap, 2.0 ** min(outages, 6)))
                outages += 1
                continue
            if lease is None:
                await self._pause(self.config.idle_seconds)
                continue
            ok = await self.work(lease)
            outages = 0 if ok is not False else outages + 1
            if ok is False:
                await self._pause(min(self.config.outage_backoff_cap, 2.0 ** min(outages, 6)))

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds * random.uniform(0.8, 1.2))

    async def _lease(self) -> Lease | None:
        response = await self.scheduler.post(
            "/v1/leases",
            json={"worker_id": self.config.worker_id, "companies": self.config.companies},
        )
        if response.status_code == 204:
            return None
        response.raise_for_status()
        return Lease.from_json(response.json())

    async def work(self, lease: Lease) -> bool | None:
        """Scrape one leased store. True: done; None: failed (not an outage); False: outage."""
        log.info(
            "worker.leased",
            company=lease.store.company,
            store_id=lease.store.store_id,
            kind=lease.kind,
        )
        heartbeat = asyncio.create_task(self._heartbeat(lease))
        try:
            result = await self._scrape(lease)
            self._check(result)
            await self._publish(lease, result)
        except asyncio.CancelledError:
            await self._fail(lease, "worker stopped before the scrape finished", retryable=True)
            raise
        except LeaseLost:
            log.warning("worker.lease_lost", token=lease.token)
            return None
        except NetworkOutageError as exc:
            await self._fail(lease, str(exc), retryable=True)
            return False
        except (AdapterError, ScrapeRefused) as exc:
            await self._fail(lease, f"{type(exc).__name__}: {exc}", retryable=True)
            return None
        except Exception as exc:  # a bug or a broker failure must not kill the slot
            log.exception("worker.scrape_crashed", store_id=lease.store.store_id)
            await self._fail(lease, f"{type(exc).__name__}: {exc}", retryable=True)
            return None
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await heartbeat
        await self._complete(lease, result)
        return True

    async def _scrape(self, lease: Lease) -> ScrapeResult:
        adapter = self.adapters[lease.store.company]
        kind: ScrapeKind = "spot" if lease.kind == "spot" else "full"
        result = await adapter.scrape(
            lease.store,
            kind,
            rotation=rotation_of(lease),
            spot_fraction=self.config.spot_fraction,
            spot_min_products=self.config.spot_min_products,
        )
        RETAILER_REQUESTS.labels(lease.store.company).inc(result.requests_made)
        self._account(lease, result)
        return result

    @staticmethod
    def _check(result: ScrapeResult) -> None:
        if result.served_store_id is None or result.served_store_mismatch:
            raise ScrapeRefused(
                f"retailer served store {result.served_store_id!r}, "
                f"not {result.requested_store_id!r}: prices not published"
            )
        if not result.complete:
            raise ScrapeRefused(f"truncated scrape: {result.incomplete_reason or 'incomplete'}")

    def _account(self, lease: Lease, result: ScrapeResult) -> None:
        company, kind = lease.store.company, result.kind
        self.scrapes[kind][company] = self.scrapes[kind].get(company, 0) + 1
        self.requests[kind][company] = self.requests[kind].get(company, 0) + result.requests_made
        if kind == "full" and result.complete:
            costs = self.full_scrape_requests.setdefault(company, {})
            costs[lease.store.store_id] = result.requests_made

    def stats(self) -> dict[str, object]:
        return {
            "worker_id": self.config.worker_id,
            "completed": self.completed,
            "failed": self.failed,
            "scrapes": self.scrapes,
            "requests": self.requests,
            "full_scrape_requests": self.full_scrape_requests,
        }

    async def _publish(self, lease: Lease, result: ScrapeResult) -> None:
        event = result.to_event(lease_token=lease.token)
        await self.bus.publish(Envelope.wrap(event, producer="scraper"))
        PRODUCTS_SCRAPED.labels(lease.store.company, lease.kind).inc(len(result.products))

    async def _heartbeat(self, lease: Lease) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_seconds)
            response = await self.scheduler.post(f"/v1/leases/{lease.token}/heartbeat")
            if response.status_code == 409:
                raise LeaseLost(lease.token)

    async def _complete(self, lease: Lease, result: ScrapeResult) -> None:
        response = await self.scheduler.post(
            f"/v1/leases/{lease.token}/complete",
            json={"products": len(result.products), "requests_made": result.requests_made},
        )
        outcome = "completed" if response.status_code < 400 else "complete_refused"
        LEASES.labels(lease.store.company, outcome).inc()
        self.completed += 1

    async def _fail(self, lease: Lease, error: str, *, retryable: bool) -> None:
        log.warning("worker.lease_failed", store_id=lease.store.store_id, error=error)
        self.failed += 1
        LEASES.labels(lease.store.company, "failed").inc()
        with contextlib.suppress(httpx.HTTPError):
            await self.scheduler.post(
                f"/v1/leases/{lease.token}/fail",
                json={"error": error[:2000], "retryable": retryable},
            )


def build_adapters(
    companies: list[Company],
    settings: ScraperRetailerSettings | None = None,
    transport_for: Callable[[Company], httpx.AsyncBaseTransport | None] | None = None,
) -> dict[Company, CatalogueAdapter]:
    settings = settings or ScraperRetailerSettings()
    return {
        c: get_adapter(c, settings, transport=transport_for(c) if transport_for else None)
        for c in companies
    }


async def discover(adapter: CatalogueAdapter, bus: Bus) -> int:
    """One store-locator sweep of a company, published as ``stores.discovered``."""
    sweep = await adapter.discover_stores()
    await bus.publish(Envelope.wrap(sweep.to_event(), producer="scraper"))
    RETAILER_REQUESTS.labels(sweep.company).inc(sweep.requests_made)
    log.info("worker.discovered", company=sweep.company, stores=len(sweep.stores))
    return len(sweep.stores)


ALL_COMPANIES: list[Company] = list(COMPANIES)
