"""The archiver service: its definition (entry point ``splitcart.services``) and ASGI app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from splitcart_shared.runtime import ServiceDefinition, create_service_app

from splitcart_archiver.api import router
from splitcart_archiver.consumers import setup
from splitcart_archiver.models import SCHEMA, messaging, metadata
from splitcart_archiver.settings import ArchiverSettings, get_settings

service = ServiceDefinition(
    name="archiver",
    description="Company and store JSON archives, their manifest, serving them.",
    settings_factory=get_settings,
    routers=[router],
    schema=SCHEMA,
    metadata=metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    setup=setup,
)


def create_app(settings: ArchiverSettings | None = None) -> FastAPI:
    app: FastAPI = create_service_app(service, settings or get_settings())
    return app
