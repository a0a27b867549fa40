"""Transactional outbox and inbox tables, one set per owning schema.

A service records an event with :meth:`Outbox.add` inside the same transaction as the state
change it describes; the relay (:mod:`splitcart_shared.relay`) publishes it only after that
transaction committed. A consumer's inbox row (consumer, event_id), written in the handler's
own transaction, makes redelivery a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    insert,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession

from splitcart_shared.clock import clock
from splitcart_shared.events import Envelope, Payload

_BIGINT_PK = BigInteger().with_variant(Integer(), "sqlite")


@dataclass(frozen=True)
class MessagingTables:
    schema: str
    outbox: Table
    inbox: Table
    dead_letters: Table


def messaging_tables(metadata: MetaData, schema: str) -> MessagingTables:
    """Declare ``outbox``, ``inbox`` and ``dead_letters`` in ``schema`` on ``metadata``."""
    outbox = Table(
        "outbox",
        metadata,
        Column("id", _BIGINT_PK, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("event_type", String(64), nullable=False),
        Column("body", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("published_at", DateTime(timezone=True)),
        Column("status", String(16), nullable=False, server_default="pending"),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("last_error", Text),
        schema=schema,
    )
    Index(
        f"ix_{schema}_outbox_pending",
        outbox.c.id,
        postgresql_where=text("status = 'pending'"),
        sqlite_where=text("status = 'pending'"),
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("consumer", String(64), nullable=False),
        Column("event_id", String(36), nullable=False),
        Column("event_type", String(64), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("consumer", "event_id"),
        schema=schema,
    )
    dead_letters = Table(
        "dead_letters",
        metadata,
        Column("id", _BIGINT_PK, primary_key=True, autoincrement=True),
        Column("consumer", String(64), nullable=False),
        Column("event_id", String(36)),
        Column("event_type", String(64)),
        Column("body", LargeBinary, nullable=False),
        Column("error", Text, nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        schema=schema,
    )
    return MessagingTables(schema, outbox, inbox, dead_letters)


class Outbox:
    """Writes events into one schema's outbox, inside the caller's transaction."""

    def __init__(self, tables: MessagingTables, producer: str) -> None:
        self.tables = tables
        self.producer = producer

    async def add(self, session: AsyncSession, payload: Payload) -> Envelope:
        envelope = Envelope.wrap(payload, producer=self.producer)
        await self.add_envelope(session, envelope)
        return envelope

    async def add_many(self, session: AsyncSession, payloads: list[Payload]) -> list[Envelope]:
        envelopes = [Envelope.wrap(p, producer=self.producer) for p in payloads]
        if envelopes:
            await session.execute(
                insert(self.tables.outbox), [self._row(envelope) for envelope in envelopes]
            )
        return envelopes

    async def add_envelope(self, session: AsyncSession, envelope: Envelope) -> None:
        await session.execute(insert(self.tables.outbox).values(**self._row(envelope)))

    @staticmethod
    def _row(envelope: Envelope) -> dict[str, object]:
        return {
            "event_id": str(envelope.event_id),
            "event_type": envelope.event_type,
            "body": envelope.to_bytes(),
            "created_at": clock.now(),
            "status": "pending",
        }
