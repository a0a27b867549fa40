"""Event handlers: typed payload in, one service call, inside the delivery's transaction."""

from __future__ import annotations

from splitcart_shared.bus import PoisonMessage
from splitcart_shared.events import (
    Envelope,
    Payload,
    ProductsEnriched,
    StoreScraped,
    StoresDiscovered,
)
from splitcart_shared.outbox import Outbox
from splitcart_shared.runtime import Runtime
from sqlalchemy.ext.asyncio import AsyncSession

from splitcart_ingest import service

TOPICS = ["stores.discovered", "store.scraped", "products.enriched"]


class IngestConsumer:
    """Routes each event type to its service function; the runtime owns the transaction."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    async def __call__(self, session: AsyncSession, payload: Payload, envelope: Envelope) -> None:
        if isinstance(payload, StoreScraped):
            await service.ingest_scrape(session, self.outbox, payload, envelope.event_id)
        elif isinstance(payload, StoresDiscovered):
            await service.apply_discovery(session, payload)
        elif isinstance(payload, ProductsEnriched):
            await service.apply_enrichment(session, payload)
        else:
            raise PoisonMessage(f"ingest does not handle {envelope.event_type}")


async def setup(runtime: Runtime) -> None:
    """The service's start-up hook: subscribe the consumer."""
    assert runtime.outbox is not None
    runtime.subscribe(TOPICS, IngestConsumer(runtime.outbox))
