from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from splitcart_shared.bus import InProcessBus
from splitcart_shared.db import Database
from splitcart_shared.events import StoreRescrapeRequested
from splitcart_shared.outbox import Outbox
from splitcart_shared.relay import OutboxRelay
from splitcart_shared.bus import Subscription
from splitcart_ingest.models import messaging as catalog_messaging
from splitcart_scheduler.models import messaging as scheduling_messaging


async def test_committed_event_reaches_handler_once(db: Database) -> None:
    bus = InProcessBus()
    seen: list[str] = []

    async def handler(session, payload, envelope) -> None:  # type: ignore[no-untyped-def]
        seen.append(str(envelope.event_id))

    await bus.subscribe(Subscription("scheduler", ["store.#"], handler, db, scheduling_messaging))
    outbox = Outbox(catalog_messaging, producer="ingest")
    relay = OutboxRelay(db, catalog_messaging, bus, service="ingest")
    async with db.transaction() as session:
        env = await outbox.add(session, StoreRescrapeRequested(company="aldi", store_id="G1", reason="manual"))
    assert await relay.drain_once() == 1
    assert await relay.drain_once() == 0
    assert seen == [str(env.event_id)]
    async with db.read() as session:
        status = (await session.execute(select(catalog_messaging.outbox.c.status))).scalar_one()
    assert status == "sent"
