"""The ingest service: its definition (entry point ``splitcart.services``) and ASGI app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from splitcart_shared.runtime import ServiceDefinition, create_service_app

from splitcart_ingest.api import router
from splitcart_ingest.consumers import setup
from splitcart_ingest.models import SCHEMA, messaging, metadata
from splitcart_ingest.settings import IngestSettings, get_settings

service = ServiceDefinition(
    name="ingest",
    description=(
        "Companies, divisions, stores, products, current prices, price history, raw snapshots."
    ),
    settings_factory=get_settings,
    routers=[router],
    schema=SCHEMA,
    metadata=metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    setup=setup,
)


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    app: FastAPI = create_service_app(service, settings or get_settings())
    return app
