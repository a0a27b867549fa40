"""The scraper worker: lease → scrape → publish → complete, and every way it fails a lease.

Retail sites are the in-process sandbox; the scheduler is its HTTP API recorded at the edge;
the bus records what was published.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest
from splitcart_scraper.adapters.registry import get_adapter
from splitcart_scraper.adapters.settings import RetryPolicy, ScraperRetailerSettings
from splitcart_scraper.sandbox import FaultConfig, Knob, World, create_app
from splitcart_scraper.worker import ScraperWorker, WorkerConfig
from splitcart_shared.events import Envelope, StoreScraped

BASE = "http://sandbox"


async def no_sleep(_: float) -> None:
    return None


class RecordingBus:
    def __init__(self) -> None:
        self.published: list[Envelope] = []

    async def publish(self, envelope: Envelope) -> None:
        self.published.append(envelope)


class SchedulerEdge:
    """Hands out the given leases once each and records every call the worker makes."""

    def __init__(self, leases: Sequence[dict[str, Any]]) -> None:
        self.leases = list(leases)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.handed = asyncio.Event()

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        self.calls.append((request.url.path, body))
        if request.url.path == "/v1/leases":
            if not self.leases:
                return httpx.Response(204)
            self.handed.set()
            return httpx.Response(200, json=self.leases.pop(0))
        return httpx.Response(200, json={"token": request.url.path.split("/")[3]})

    def ends(self) -> list[str]:
        return [p.rsplit("/", 1)[1] for p, _ in self.calls if p != "/v1/leases"]


def lease(store_id: str, kind: str = "full", token: str = "t1") -> dict[str, Any]:
    return {
        "token": token,
        "expires_at": "2025-09-01T01:00:00Z",
        "kind": kind,
        "reason": "never_scraped",
        "spot_rotation": 0,
        "store": {
            "company": "aldi",
            "store_id": store_id,
            "retailer_store_id": None,
            "name": "x",
            "state": "NSW",
        },
    }


@pytest.fixture(scope="module")
def world() -> World:
    return World(7, 0.05, 0.05)


async def _first_open_store(app: Any) -> str:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        body = (await c.get("/admin/stores", params={"chain": "aldi"})).json()
    return str(next(s["store_id"] for s in body["stores"] if s["open"]))


class Rig:
    def __init__(
        self, world: World, leases: Sequence[dict[str, Any]], faults: FaultConfig | None = None
    ) -> None:
        self.app = create_app(7, 0.05, 0.05, faults=faults, world=world)
        self.scheduler = SchedulerEdge(leases)
        self.bus = RecordingBus()
        self.stopping = asyncio.Event()
        settings = ScraperRetailerSettings(
            aldi_base_url=f"{BASE}/aldi",
            aldi_rps=0,
            retry=RetryPolicy(max_attempts=2, backoff_base=0.0001, backoff_cap=0.001),
        )
        self.adapter = get_adapter(
            "aldi", settings, transport=httpx.ASGITransport(app=self.app), sleep=no_sleep
        )
        self.client = httpx.AsyncClient(
            transport=httpx.MockTransport(self.scheduler.handle), base_url="http://scheduler"
        )
        self.worker = ScraperWorker(
            WorkerConfig(worker_id="w", companies=["aldi"], concurrency=1, idle_seconds=0.01),
            self.client,
            self.bus,  # type: ignore[arg-type]
            {"aldi": self.adapter},
            self.stopping,
        )

    async def first_store(self) -> str:
        return await _first_open_store(self.app)

    async def close(self) -> None:
        await self.adapter.aclose()
        await self.client.aclose()


@pytest.fixture
async def rig(world: World) -> AsyncIterator[Rig]:
    made = Rig(world, [])
    yield made
    await made.close()


async def test_a_leased_store_is_scraped_published_and_completed(rig: Rig) -> None:
    store = await rig.first_store()
    assert await rig.worker.work(_lease(store)) is True
    (envelope,) = rig.bus.published
    event = envelope.typed()
    assert isinstance(event, StoreScraped)
    assert (event.requested_store_id, event.served_store_id, event.lease_token) == (
        store,
        store,
        "t1",
    )
    assert event.complete and event.products.count > 0
    assert rig.scheduler.ends() == ["complete"]


def _lease(store: str, kind: str = "full") -> Any:
    from splitcart_scraper.worker import Lease

    return Lease.from_json(lease(store, kind))


async def test_a_store_served_from_elsewhere_fails_the_lease_and_publishes_nothing(
    world: World,
) -> None:
    rig = Rig(world, [], FaultConfig(knobs={"store_mismatch": Knob(rate=1.0, seed=3)}))
    try:
        store = await rig.first_store()
        assert await rig.worker.work(_lease(store)) is None
    finally:
        await rig.close()
    assert rig.bus.published == []
    assert rig.scheduler.ends() == ["fail"]
    _, body = rig.scheduler.calls[-1]
    assert "served" in body["error"] and body["retryable"] is True


async def test_a_network_outage_fails_the_lease_and_says_so(rig: Rig) -> None:
    async def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    settings = ScraperRetailerSettings(
        aldi_base_url=f"{BASE}/aldi",
        aldi_rps=0,
        retry=RetryPolicy(max_attempts=2, backoff_base=0.0001, backoff_cap=0.001),
    )
    down = get_adapter("aldi", settings, transport=httpx.MockTransport(refuse), sleep=no_sleep)
    rig.worker.adapters["aldi"] = down
    try:
        assert await rig.worker.work(_lease("G1")) is False
    finally:
        await down.aclose()
    assert rig.bus.published == []
    assert rig.scheduler.ends() == ["fail"]


async def test_stopping_mid_scrape_fails_the_lease_instead_of_leaving_it(world: World) -> None:
    slow = FaultConfig(knobs={"slow": Knob(rate=1.0, seed=1)}, slow_seconds=30.0)
    rig = Rig(world, [], slow)
    store = await rig.first_store()
    rig.scheduler.leases.append(lease(store))
    rig.worker.config.shutdown_grace_seconds = 0.0
    running = asyncio.create_task(rig.worker.run())
    try:
        await asyncio.wait_for(rig.scheduler.handed.wait(), 10)
        rig.stopping.set()
        await asyncio.wait_for(running, 10)
    finally:
        await rig.close()
    assert rig.bus.published == []
    assert rig.scheduler.ends() == ["fail"]
    _, body = rig.scheduler.calls[-1]
    assert "stopped" in body["error"]
