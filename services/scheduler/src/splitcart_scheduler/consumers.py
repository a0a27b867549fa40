"""Event handlers: the scheduler learns stores, scrapes and groups only from events.

Each handler runs in the bus's transaction together with the inbox row, so a redelivered
event is skipped; the state updates themselves are also safe to repeat (guarded by the
event's own time or id), so even a replay from another path changes nothing.
"""

from __future__ import annotations

from splitcart_shared.bus import Handler
from splitcart_shared.clock import utc
from splitcart_shared.events import (
    Envelope,
    GroupAnchorChanged,
    GroupMemberConfirmed,
    GroupMerged,
    Payload,
    ScrapeRejected,
    StoreEjected,
    StoreIngested,
    StoreRescrapeRequested,
    StoresDiscovered,
)
from splitcart_shared.runtime import Runtime
from sqlalchemy.ext.asyncio import AsyncSession

from splitcart_scheduler import service
from splitcart_scheduler.service import Policy

ROUTING_KEYS = (
    StoresDiscovered.event_type,
    StoreIngested.event_type,
    ScrapeRejected.event_type,
    GroupMerged.event_type,
    StoreEjected.event_type,
    GroupAnchorChanged.event_type,
    GroupMemberConfirmed.event_type,
    StoreRescrapeRequested.event_type,
)


def handler(policy: Policy) -> Handler:
    async def handle(session: AsyncSession, payload: Payload, envelope: Envelope) -> None:
        await apply(session, policy, payload, envelope)

    return handle


async def apply(
    session: AsyncSession, policy: Policy, payload: Payload, envelope: Envelope
) -> None:
    at = utc(envelope.occurred_at)
    match payload:
        case StoresDiscovered():
            await service.apply_discovery(session, policy, payload)
        case StoreIngested():
            await service.apply_ingested(session, policy, payload)
        case ScrapeRejected():
            await service.apply_rejected(session, policy, payload)
        case GroupMerged():
            await service.apply_merged(session, policy, payload, at)
        case StoreEjected():
            await service.apply_ejected(session, policy, payload, at)
        case GroupAnchorChanged():
            await service.apply_anchor_changed(session, policy, payload, at)
        case GroupMemberConfirmed():
            await service.apply_member_confirmed(session, policy, payload, at)
        case StoreRescrapeRequested():
            await service.request_rescrape(
                session, policy, payload.company, payload.store_id, payload.reason, at
            )


def register(runtime: Runtime, policy: Policy) -> None:
    runtime.subscribe(ROUTING_KEYS, handler(policy))
