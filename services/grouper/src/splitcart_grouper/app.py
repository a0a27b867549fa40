"""The grouper service: its definition (entry point ``splitcart.services``) and ASGI app."""

from __future__ import annotations

from pathlib import Path

from splitcart_shared.runtime import ServiceDefinition
from splitcart_grouper.models import SCHEMA, messaging, metadata
from splitcart_grouper.settings import get_settings

service = ServiceDefinition(
    name="grouper",
    description="Pricing groups, anchors, memberships, comparison evidence, inferred prices.",
    settings_factory=get_settings,
    schema=SCHEMA,
    metadata=metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
)
