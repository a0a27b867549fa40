"""The archiver service: its definition (entry point ``splitcart.services``) and ASGI app."""

from __future__ import annotations

from pathlib import Path

from splitcart_shared.runtime import ServiceDefinition
from splitcart_archiver.models import SCHEMA, messaging, metadata
from splitcart_archiver.settings import get_settings

service = ServiceDefinition(
    name="archiver",
    description="Company and store JSON archives, their manifest, serving them.",
    settings_factory=get_settings,
    schema=SCHEMA,
    metadata=metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
)
