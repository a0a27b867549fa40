"""How a splitcart service is described, wired and run.

Each service package exposes a :class:`ServiceDefinition` as the entry point
``splitcart.services``; :func:`create_service_app` turns it into a FastAPI app whose lifespan
creates the database engine, the bus, the outbox relay, the consumers and background workers,
and closes them in reverse at shutdown. ``splitcart up`` builds all five around one shared
database and bus.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request, Response
from sqlalchemy import MetaData

from splitcart_shared.auth import bearer_headers
from splitcart_shared.bus import Bus, Handler, RetryPolicy, Subscription, make_bus
from splitcart_shared.clock import FollowingClock, clock, use_clock
from splitcart_shared.db import Database
from splitcart_shared.errors import Unavailable, install_error_handlers
from splitcart_shared.events import Payload
from splitcart_shared.logging import get_logger
from splitcart_shared.metrics import render_latest
from splitcart_shared.outbox import MessagingTables, Outbox
from splitcart_shared.relay import OutboxRelay
from splitcart_shared.settings import CommonSettings

log = get_logger(__name__)

Setup = Callable[["Runtime"], Awaitable[None]]


@dataclass
class ServiceDefinition:
    """What a service is: its name, schema, tables, migrations, routes and start-up hook."""

    name: str
    settings_factory: Callable[[], CommonSettings]
    routers: Sequence[APIRouter] = ()
    schema: str | None = None
    metadata: MetaData | None = None
    messaging: MessagingTables | None = None
    migrations: Path | None = None
    setup: Setup | None = None
    description: str = ""


@dataclass
class Runtime:
    """Everything a running service holds: created in the lifespan, closed at shutdown."""

    name: str
    settings: CommonSettings
    db: Database
    bus: Bus
    outbox: Outbox | None = None
    relay: OutboxRelay | None = None
    subscriptions: list[Subscription] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def subscribe(
        self, routing_keys: Sequence[str], handler: Handler, consumer: str | None = None
    ) -> None:
        """Register a handler; it runs in a transaction with the inbox row of this service."""
        assert self.outbox is not None, "a consuming service needs its own schema for the inbox"
        sub = Subscription(
            consumer=consumer or self.name,
            routing_keys=list(routing_keys),
            handler=handler,
            db=self.db,
            tables=self.outbox.tables,
        )
        if self.relay is not None:
            relay = self.relay
            sub.after_commit.append(lambda _envelope: relay.kick())
        self.subscriptions.append(sub)

    def spawn(self, coro: Awaitable[Any], name: str) -> None:
        """A background worker; cancelled at shutdown after ``stopping`` is set."""
        self.tasks.append(asyncio.ensure_future(coro))
        self.tasks[-1].set_name(f"{self.name}-{name}")

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        self.closers.append(closer)

    def kick_relay(self) -> None:
        if self.relay is not None:
            self.relay.kick()

    async def emit(self, payloads: Sequence[Payload]) -> None:
        """Record events in their own transaction (for work with no other state change)."""
        assert self.outbox is not None
        async with self.db.transaction() as session:
            await self.outbox.add_many(session, list(payloads))
        self.kick_relay()

    def client(self, base_url: str, timeout: float = 30.0) -> httpx.AsyncClient:
        """An HTTP client for another service's API, closed with this runtime."""
        client = httpx.AsyncClient(
            base_url=base_url, timeout=timeout, headers=bearer_headers(self.settings)
        )
        self.on_close(client.aclose)
        return client


async def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _retry_policy(settings: CommonSettings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.consumer_max_attempts,
        base=settings.consumer_backoff_base,
        cap=settings.consumer_backoff_cap,
    )


def build_bus(settings: CommonSettings) -> Bus:
    return make_bus(
        settings.amqp_url,
        settings.exchange,
        settings.consumer_prefetch,
        _retry_policy(settings),
        settings.queue_prefix,
        settings.consumer_batch,
        settings.consumer_workers,
    )


@asynccontextmanager
async def run_service(
    definition: ServiceDefinition,
    settings: CommonSettings,
    *,
    db: Database | None = None,
    bus: Bus | None = None,
) -> AsyncIterator[Runtime]:
    """Start a service's resources (sharing ``db``/``bus`` when given) and stop them after."""
    settings.require_tokens()
    follow_clock(settings)
    own_db, own_bus = db is None, bus is None
    runtime = Runtime(
        name=definition.name,
        settings=settings,
        db=db or Database(settings.database_url),
        bus=bus or build_bus(settings),
    )
    if own_bus:
        await runtime.bus.start()
    if definition.messaging is not None:
        runtime.outbox = Outbox(definition.messaging, producer=definition.name)
        runtime.relay = OutboxRelay(
            runtime.db,
            definition.messaging,
            runtime.bus,
            service=definition.name,
            batch=settings.relay_batch,
            idle_seconds=settings.relay_idle_seconds,
            feeds=settings.feed_events,
        )
    try:
        if definition.setup is not None:
            await definition.setup(runtime)
        for sub in runtime.subscriptions:
            await runtime.bus.subscribe(sub)
        if runtime.relay is not None:
            runtime.relay.start()
        log.info("service.started", service=definition.name, embedded=settings.embedded)
        yield runtime
    finally:
        await _shutdown(runtime, own_db=own_db, own_bus=own_bus)


async def _shutdown(runtime: Runtime, *, own_db: bool, own_bus: bool) -> None:
    runtime.stopping.set()
    if runtime.tasks:
        _, pending = await asyncio.wait(runtime.tasks, timeout=10)
        for task in pending:
            task.cancel()
        await asyncio.gather(*runtime.tasks, return_exceptions=True)
    if runtime.relay is not None:
        await runtime.relay.stop()
    for closer in reversed(runtime.closers):
        with contextlib.suppress(Exception):
            await closer()
    if own_bus:
        await runtime.bus.close()
    if own_db:
        await runtime.db.dispose()
    log.info("service.stopped", service=runtime.name)


def follow_clock(settings: CommonSettings) -> None:
    """Switch this process to the clock at ``settings.clock_url`` (once)."""
    if settings.clock_url and not isinstance(clock.target, FollowingClock):
        use_clock(FollowingClock(settings.clock_url))


def health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(request: Request) -> dict[str, str]:
        runtime: Runtime = request.app.state.runtime
        try:
            await asyncio.wait_for(runtime.db.ping(), timeout=3)
        except Exception as exc:
            raise Unavailable("database unreachable", error=str(exc)) from exc
        try:
            await runtime.bus.ping()
        except Exception as exc:
            raise Unavailable("broker unreachable", error=str(exc)) from exc
        return {"status": "ready"}

    @router.get("/backlogz")
    async def backlogz(request: Request) -> dict[str, int]:
        """Events this service has yet to send (its outbox) or to handle (its queues)."""
        runtime: Runtime = request.app.state.runtime
        outbox = await runtime.relay.pending() if runtime.relay is not None else 0
        return {"outbox": outbox, "inbound": await runtime.bus.backlog()}

    @router.get("/metrics")
    async def metrics() -> Response:
        body, content_type = render_latest()
        return Response(body, media_type=content_type)

    return router


def create_service_app(
    definition: ServiceDefinition,
    settings: CommonSettings | None = None,
    *,
    db: Database | None = None,
    bus: Bus | None = None,
) -> FastAPI:
    settings = settings or definition.settings_factory()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with run_service(definition, settings, db=db, bus=bus) as runtime:
            app.state.runtime = runtime
            yield

    app = FastAPI(
        title=f"splitcart {definition.name}",
        description=definition.description,
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(health_router())
    for router in definition.routers:
        app.include_router(router)
    return app


def discover_services() -> dict[str, ServiceDefinition]:
    """Installed services, by name, in pipeline order."""
    order = ["scheduler", "scraper", "ingest", "grouper", "archiver"]
    found = {ep.name: ep.load() for ep in entry_points(group="splitcart.services")}
    return {name: found[name] for name in sorted(found, key=lambda n: [*order, n].index(n))}
