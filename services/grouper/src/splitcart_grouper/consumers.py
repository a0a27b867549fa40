"""Event handlers and the round worker.

Handlers are quick: they only mark stores dirty (inside the delivery's transaction,
next to its inbox row, so a redelivery is a no-op). The worker runs each company's
grouping round over its dirty stores, debounced: every
``grouper_round_interval_seconds``, or sooner once ``grouper_round_batch`` stores of a
company are waiting.
"""

from __future__ import annotations

import asyncio
import contextlib

from splitcart_shared.bus import PoisonMessage
from splitcart_shared.clock import clock
from splitcart_shared.events import Envelope, Payload, StoreIngested, StoresDiscovered
from splitcart_shared.logging import get_logger
from splitcart_shared.runtime import Runtime
from sqlalchemy.ext.asyncio import AsyncSession

from splitcart_grouper import repository
from splitcart_grouper.service import Grouper, RoundReport, grouper_of, run_round
from splitcart_grouper.settings import GrouperSettings

log = get_logger(__name__)

TOPICS = ["store.ingested", "stores.discovered"]


class GrouperConsumer:
    """Marks ingested and discovered stores dirty; the runtime owns the transaction."""

    def __init__(self, grouper: Grouper) -> None:
        self.grouper = grouper

    async def __call__(self, session: AsyncSession, payload: Payload, envelope: Envelope) -> None:
        marks: list[tuple[str, str, str]]
        if isinstance(payload, StoreIngested):
            marks = [(payload.company, payload.store_id, payload.kind)]
        elif isinstance(payload, StoresDiscovered):
            marks = [(payload.company, s.store_id, "discovered") for s in payload.stores]
        else:
            raise PoisonMessage(f"grouper does not handle {envelope.event_type}")
        await mark(session, marks, str(envelope.event_id))
        self.grouper.noticed(payload.company, len(marks))


async def mark(session: AsyncSession, marks: list[tuple[str, str, str]], event_id: str) -> None:
    now = clock.now()
    rows = [
        {"company": c, "store_id": s, "kind": k, "mark": event_id, "marked_at": now}
        for c, s, k in marks
    ]
    await repository.mark_dirty(session, rows)


async def round_worker(grouper: Grouper, stopping: asyncio.Event) -> None:
    """Run due rounds until the service stops; a failing round is retried next time."""
    interval = grouper.settings.grouper_round_interval_seconds
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_either(grouper.wake, stopping), timeout=interval)
        grouper.wake.clear()
        if not stopping.is_set():
            await run_due_rounds(grouper)


async def _either(one: asyncio.Event, other: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(one.wait()), asyncio.ensure_future(other.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


async def run_due_rounds(target: Runtime | Grouper) -> list[RoundReport]:
    """A round for every company with dirty stores (what the worker does each tick);
    a company whose round fails is logged and left dirty for the next tick."""
    grouper = grouper_of(target)
    async with grouper.db.read() as session:
        due = await repository.dirty_companies(session)
    reports = []
    for company in due:
        try:
            reports.append(await run_round(grouper, company))
        except Exception:
            log.exception("grouping.round_failed", company=company)
    return reports


async def setup(runtime: Runtime) -> None:
    """The service's start-up hook: the grouper, its consumer and its worker."""
    assert runtime.outbox is not None
    settings = runtime.settings
    assert isinstance(settings, GrouperSettings)
    grouper = Grouper(runtime.db, runtime.outbox, settings, kick=runtime.kick_relay)
    runtime.state["grouper"] = grouper
    runtime.subscribe(TOPICS, GrouperConsumer(grouper))
    if settings.grouper_worker_enabled:
        runtime.spawn(round_worker(grouper, runtime.stopping), "rounds")
