"""The grouper service: its definition (entry point ``splitcart.services``) and ASGI app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from splitcart_shared.runtime import ServiceDefinition, create_service_app

from splitcart_grouper.api import router
from splitcart_grouper.consumers import setup
from splitcart_grouper.models import SCHEMA, messaging, metadata
from splitcart_grouper.settings import GrouperSettings, get_settings

service = ServiceDefinition(
    name="grouper",
    description="Pricing groups, anchors, memberships, comparison evidence, inferred prices.",
    settings_factory=get_settings,
    routers=[router],
    schema=SCHEMA,
    metadata=metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    setup=setup,
)


def create_app(settings: GrouperSettings | None = None) -> FastAPI:
    app: FastAPI = create_service_app(service, settings or get_settings())
    return app
