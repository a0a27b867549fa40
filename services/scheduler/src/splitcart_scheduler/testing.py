"""Test support for the scheduler: the app under test with its token, and event delivery.

Used by ``services/scheduler/tests`` and by simulations (needs the dev dependency
``asgi-lifespan``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from splitcart_shared.bus import Subscription, handle_once
from splitcart_shared.clock import clock
from splitcart_shared.events import (
    Envelope,
    GroupMerged,
    OverlapEvidence,
    Payload,
    StoreIngested,
    StoreRecord,
    StoresDiscovered,
)
from splitcart_shared.runtime import Runtime

from splitcart_scheduler.app import create_app
from splitcart_scheduler.settings import SchedulerSettings

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
TOKEN = "scraper-token-0123456789"


def make_settings(database_url: str, **overrides: Any) -> SchedulerSettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "auth_disabled": False,
        "api_tokens": {"scraper": {"token": TOKEN, "scopes": ["read", "write"]}},
        # The background sweep is driven explicitly in tests.
        "maintenance_interval_seconds": 3600,
        "company_lease_cap": {"coles": 4, "woolworths": 4, "aldi": 4, "iga": 4},
        "lease_ttl_seconds": 300,
        "log_json": True,
    }
    values.update(overrides)
    return SchedulerSettings(**values)


class Harness:
    """The running app, an HTTP client with the scraper's token, and event delivery."""

    def __init__(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    @property
    def subscription(self) -> Subscription:
        return self.runtime.subscriptions[0]

    async def deliver(self, payload: Payload, occurred_at: datetime | None = None) -> Envelope:
        envelope = Envelope.wrap(payload, producer="test", occurred_at=occurred_at)
        await handle_once(self.subscription, envelope, payload)
        return envelope

    async def redeliver(self, envelope: Envelope) -> bool:
        handled: bool = await handle_once(self.subscription, envelope, envelope.typed())
        return handled

    async def replay_as_new(self, envelope: Envelope) -> None:
        """The same event under a fresh id: the inbox cannot help, the update must."""
        again = envelope.model_copy(update={"event_id": uuid.uuid4()})
        await handle_once(self.subscription, again, again.typed())

    async def discover(
        self,
        company: str,
        *records: StoreRecord,
        complete: bool = False,
        swept_at: datetime | None = None,
    ) -> Envelope:
        payload = StoresDiscovered(
            company=company,
            swept_at=swept_at or clock.now(),
            complete=complete,
            stores=list(records),
        )
        return await self.deliver(payload)

    async def ingested(
        self, company: str, store_id: str, kind: str = "full", at: datetime | None = None
    ) -> Envelope:
        payload = StoreIngested(
            company=company,
            store_id=store_id,
            kind=kind,
            scraped_at=at or clock.now(),
            source_event_id=uuid.uuid4(),
            products=100,
            new_products=0,
            changed_prices=0,
            delisted=0,
        )
        return await self.deliver(payload)

    async def merged(self, company: str, group_id: str, anchor: str, *moved: str) -> Envelope:
        payload = GroupMerged(
            company=company,
            into_group_id=group_id,
            from_group_id=f"from-{group_id}",
            anchor_store_id=anchor,
            moved_store_ids=list(moved),
            evidence=OverlapEvidence(
                store_a=anchor,
                store_b=moved[0] if moved else anchor,
                compared=500,
                mismatches=0,
                true_overlap=1.0,
                range_overlap=1.0,
                matched=True,
            ),
        )
        return await self.deliver(payload)

    async def lease(self, **body: Any) -> httpx.Response:
        return await self.client.post("/v1/leases", json={"worker_id": "w1", **body})

    async def lease_ok(self, **body: Any) -> dict[str, Any]:
        response = await self.lease(**body)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def complete(self, token: str) -> httpx.Response:
        return await self.client.post(f"/v1/leases/{token}/complete")

    async def heartbeat(self, token: str) -> httpx.Response:
        return await self.client.post(f"/v1/leases/{token}/heartbeat")

    async def fail(self, token: str, error: str = "boom", retryable: bool = True) -> httpx.Response:
        body = {"error": error, "retryable": retryable}
        return await self.client.post(f"/v1/leases/{token}/fail", json=body)

    async def store(self, company: str, store_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/v1/stores/{company}/{quote(store_id, safe='')}")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


def moment(value: str) -> datetime:
    """A time as the API renders it (``…Z``), parsed back."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def record(store_id: str, **extra: Any) -> StoreRecord:
    values: dict[str, Any] = {
        "name": f"Store {store_id}",
        "division": "Supermarkets",
        "state": "NSW",
    }
    values.update(extra)
    return StoreRecord(store_id=store_id, **values)


@asynccontextmanager
async def running(settings: SchedulerSettings) -> AsyncIterator[Harness]:
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://scheduler", headers=headers
        ) as client:
            yield Harness(app, client)
