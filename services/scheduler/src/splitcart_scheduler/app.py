"""The scheduler service: its definition (entry point ``splitcart.services``) and ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from pathlib import Path

from fastapi import FastAPI
from splitcart_shared.logging import get_logger
from splitcart_shared.runtime import Runtime, ServiceDefinition, create_service_app

from splitcart_scheduler import consumers, metrics
from splitcart_scheduler import service as scheduling
from splitcart_scheduler.api import LeaseLane, router
from splitcart_scheduler.models import SCHEMA, messaging, metadata
from splitcart_scheduler.repository import LeaseStore, SessionLeases, open_pool_leases
from splitcart_scheduler.service import Policy
from splitcart_scheduler.settings import SchedulerSettings, get_settings

log = get_logger(__name__)


def scheduler_settings(runtime: Runtime) -> SchedulerSettings:
    settings = runtime.settings
    return settings if isinstance(settings, SchedulerSettings) else get_settings()


async def setup(runtime: Runtime) -> None:
    settings = scheduler_settings(runtime)
    policy = Policy.from_settings(settings)
    runtime.state["policy"] = policy
    runtime.state["leases"] = await _lease_store(runtime, settings)
    # Two transactions: one that held the slots while re-placing every store would deadlock
    # with replicas already serving, whose ends of leases lock a store and then its slot.
    async with runtime.db.transaction() as session:
        await scheduling.sync_slots(session, settings)
    async with runtime.db.transaction() as session:
        await scheduling.replan_everything(session, policy)
    consumers.register(runtime, policy)
    runtime.spawn(maintain(runtime, policy, settings.maintenance_interval_seconds), "maintain")
    # Everything loaded so far (modules, app, settings) lives as long as the process: the
    # collector stops walking it, so a full collection no longer stalls the hot path for
    # tens of milliseconds.
    gc.freeze()


async def _lease_store(runtime: Runtime, settings: SchedulerSettings) -> LeaseStore:
    if not runtime.db.is_postgres:
        return SessionLeases(runtime.db)
    leases = await open_pool_leases(runtime.db.url, settings.lease_pool_size)
    runtime.on_close(leases.pool.close)
    return leases


async def maintain(runtime: Runtime, policy: Policy, interval: float) -> None:
    """Reclaim expired leases and refresh the gauges, until the service stops."""
    while not runtime.stopping.is_set():
        try:
            await maintain_once(runtime, policy)
        except Exception as exc:  # a bad round must not end the loop
            log.warning("scheduler.maintenance_failed", error=str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(runtime.stopping.wait(), timeout=interval)


async def maintain_once(runtime: Runtime, policy: Policy) -> None:
    async with runtime.db.transaction() as session:
        await scheduling.reclaim_expired(session, policy)
    async with runtime.db.read() as session:
        metrics.publish(await scheduling.stats(session))


service = ServiceDefinition(
    name="scheduler",
    description=(
        "Decides which store is scraped next; leases; politeness per company. "
        "Stores are named by company and the chain's own store id (URL-encoded in paths)."
    ),
    settings_factory=get_settings,
    routers=[router],
    schema=SCHEMA,
    metadata=metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    setup=setup,
)


def create_app(settings: SchedulerSettings | None = None) -> FastAPI:
    app: FastAPI = create_service_app(service, settings)
    app.add_middleware(LeaseLane)
    return app
