"""Tables of the ``grouping`` schema, owned by the grouper service."""

from __future__ import annotations

from sqlmodel import SQLModel

from splitcart_shared.db import NAMING_CONVENTION
from splitcart_shared.outbox import messaging_tables

SCHEMA = "grouping"
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata = SQLModel.metadata

messaging = messaging_tables(metadata, SCHEMA)
