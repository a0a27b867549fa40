"""The ``splitcart`` command.

Service packages plug in through entry points: ``splitcart.services`` (a ServiceDefinition),
``splitcart.cli`` (a Typer sub-app, e.g. ``splitcart sandbox``) and ``splitcart.bench`` (a
command printing a benchmark's JSON, e.g. ``splitcart bench ingest``).
"""

from __future__ import annotations

import asyncio
from importlib.metadata import entry_points
from typing import Annotated, Any

import typer
import uvicorn

from splitcart_shared.bus import InProcessBus
from splitcart_shared.db import Database
from splitcart_shared.logging import configure_logging
from splitcart_shared.migrations import autogenerate, upgrade
from splitcart_shared.runtime import ServiceDefinition, create_service_app, discover_services
from splitcart_shared.settings import CommonSettings

app = typer.Typer(help="splitcart: the price engine for Australian groceries", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks; each prints one JSON object", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


def _service(name: str) -> ServiceDefinition:
    services = discover_services()
    if name not in services:
        raise typer.BadParameter(f"unknown service {name!r}; installed: {', '.join(services)}")
    return services[name]


async def migrate_all(settings: CommonSettings, only: str | None = None) -> list[str]:
    """Upgrade every installed service's schema (or one); returns the services migrated."""
    db = Database(settings.database_url)
    done = []
    try:
        for name, definition in discover_services().items():
            if definition.migrations is None or definition.schema is None:
                continue
            if only and name != only:
                continue
            await upgrade(db, definition.migrations, definition.schema)
            done.append(name)
    finally:
        await db.dispose()
    return done


@app.command()
def migrate(
    service: Annotated[str | None, typer.Option(help="migrate only this service")] = None,
) -> None:
    """Create or upgrade the database schemas (Alembic)."""
    settings = CommonSettings()
    configure_logging(settings.log_level, json=False)
    done = asyncio.run(migrate_all(settings, service))
    typer.echo(f"migrated: {', '.join(done) or 'nothing'}")


@app.command()
def revision(service: str, message: Annotated[str, typer.Option("-m", "--message")]) -> None:
    """Autogenerate a migration for SERVICE from its models (against SPLITCART_DATABASE_URL)."""
    definition = _service(service)
    migrations, schema = definition.migrations, definition.schema
    if migrations is None or schema is None:
        raise typer.BadParameter(f"{service} owns no schema")
    settings = CommonSettings()

    async def run() -> None:
        db = Database(settings.database_url)
        try:
            await upgrade(db, migrations, schema)
            await autogenerate(db, migrations, schema, message)
        finally:
            await db.dispose()

    asyncio.run(run())


@app.command()
def serve(
    service: str,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    migrate_first: Annotated[bool, typer.Option("--migrate/--no-migrate")] = False,
) -> None:
    """Run one service (distributed mode: its own process)."""
    definition = _service(service)
    settings = definition.settings_factory()
    configure_logging(settings.log_level, settings.log_json)
    if migrate_first:
        asyncio.run(migrate_all(settings, service))
    uvicorn.run(create_service_app(definition, settings), host=host, port=port, log_config=None)


def build_up_app(settings: CommonSettings) -> Any:
    """All services in one process, sharing one database and one bus, each under /<name>."""
    from contextlib import AsyncExitStack, asynccontextmanager

    from fastapi import FastAPI

    from splitcart_shared.runtime import build_bus

    db = Database(settings.database_url)
    bus = build_bus(settings)
    # The scraper starts last: its first store-locator sweep needs the consumers bound.
    ordered = sorted(discover_services().items(), key=lambda item: item[0] == "scraper")
    children = {
        name: create_service_app(definition, definition.settings_factory(), db=db, bus=bus)
        for name, definition in ordered
    }

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        async with AsyncExitStack() as stack:
            await bus.start()
            stack.push_async_callback(bus.close)
            stack.push_async_callback(db.dispose)
            for child in children.values():
                await stack.enter_async_context(child.router.lifespan_context(child))
            yield

    root = FastAPI(title="splitcart (all services)", lifespan=lifespan)

    @root.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "services": list(children),
            "embedded": isinstance(bus, InProcessBus),
        }

    for name, child in children.items():
        root.mount(f"/{name}", child)
    return root


@app.command()
def up(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
) -> None:
    """Run all five services in one process (embedded mode unless SPLITCART_AMQP_URL is set)."""
    settings = CommonSettings()
    configure_logging(settings.log_level, settings.log_json)
    asyncio.run(migrate_all(settings))
    uvicorn.run(build_up_app(settings), host=host, port=port, log_config=None)


def _broken(name: str, error: Exception) -> Any:
    def command() -> None:
        typer.echo(f"{name} is unavailable: {type(error).__name__}: {error}", err=True)
        raise typer.Exit(2)

    command.__doc__ = f"(unavailable: {error})"
    return command


def _plug_in() -> None:
    """Mount plug-ins; one that fails to import is reported when used, not fatal to all."""
    for ep in entry_points(group="splitcart.cli"):
        try:
            app.add_typer(ep.load(), name=ep.name)
        except Exception as exc:
            app.command(name=ep.name)(_broken(ep.name, exc))
    for ep in entry_points(group="splitcart.commands"):
        try:
            app.command(name=ep.name)(ep.load())
        except Exception as exc:
            app.command(name=ep.name)(_broken(ep.name, exc))
    for ep in entry_points(group="splitcart.bench"):
        try:
            bench_app.command(name=ep.name)(ep.load())
        except Exception as exc:
            bench_app.command(name=ep.name)(_broken(f"bench {ep.name}", exc))


def main() -> None:
    _plug_in()
    app()
