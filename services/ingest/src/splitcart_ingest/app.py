"""The ingest service: its definition (entry point ``splitcart.services``) and ASGI app."""

from __future__ import annotations

from pathlib import Path

from splitcart_shared.runtime import ServiceDefinition
from splitcart_ingest.models import SCHEMA, messaging, metadata
from splitcart_ingest.settings import get_settings

service = ServiceDefinition(
    name="ingest",
    description="Companies, divisions, stores, products, current prices, price history, raw snapshots.",
    settings_factory=get_settings,
    schema=SCHEMA,
    metadata=metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
)
