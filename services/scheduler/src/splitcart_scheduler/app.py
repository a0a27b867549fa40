"""The scheduler service: its definition (entry point ``splitcart.services``) and ASGI app."""

from __future__ import annotations

from pathlib import Path

from splitcart_shared.runtime import ServiceDefinition
from splitcart_scheduler.models import SCHEMA, messaging, metadata
from splitcart_scheduler.settings import get_settings

service = ServiceDefinition(
    name="scheduler",
    description="Decides which store is scraped next; leases; politeness per company.",
    settings_factory=get_settings,
    schema=SCHEMA,
    metadata=metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
)
