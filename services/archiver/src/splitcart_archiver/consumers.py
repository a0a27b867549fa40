"""Event handlers: mark the archives an event makes stale, nothing else (the builder runs
later, debounced, in the background worker)."""

from __future__ import annotations

from splitcart_shared.bus import PoisonMessage
from splitcart_shared.errors import DomainError
from splitcart_shared.events import Envelope, Payload
from splitcart_shared.runtime import Runtime
from sqlalchemy.ext.asyncio import AsyncSession

from splitcart_archiver import service
from splitcart_archiver.service import TOPICS, Archiver
from splitcart_archiver.settings import ArchiverSettings


async def handle(session: AsyncSession, payload: Payload, envelope: Envelope) -> None:
    """Runs inside the delivery's transaction, with the inbox row that makes redelivery a
    no-op."""
    try:
        await service.mark_for_event(session, payload)
    except DomainError as exc:
        raise PoisonMessage(str(exc)) from exc


def archiver_of(runtime: Runtime) -> Archiver:
    archiver = runtime.state.get("archiver")
    assert isinstance(archiver, Archiver), "the archiver service has not been set up"
    return archiver


async def setup(runtime: Runtime) -> None:
    """Start-up hook: subscribe the consumer and start the background builder."""
    settings = runtime.settings
    assert isinstance(settings, ArchiverSettings) and runtime.outbox is not None
    archiver = Archiver(runtime.db, settings, runtime.outbox, runtime.kick_relay)
    runtime.state["archiver"] = archiver
    runtime.subscribe(TOPICS, handle)
    if settings.archive_worker:
        runtime.spawn(archiver.run_worker(runtime.stopping), "builder")
