"""The outbox relay: publishes committed outbox rows and marks them sent.

Rows are claimed with ``FOR UPDATE SKIP LOCKED`` on Postgres, so several relays (one per
replica) can drain one outbox without publishing a row twice; SQLite serialises claims with
its write lock. A row is marked ``sent`` only after the broker confirmed it; a failed
publish leaves it pending for the next pass (at-least-once; consumers are idempotent). An
unroutable event is an error: the row is marked ``unroutable`` with the reason, logged and
counted, never silently dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from sqlalchemy import Select, func, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from splitcart_shared.bus import Bus, RawEvent, Unroutable, backoff
from splitcart_shared.clock import clock
from splitcart_shared.db import Database
from splitcart_shared.logging import get_logger
from splitcart_shared.metrics import EVENTS_PUBLISHED, EVENTS_UNROUTABLE, OUTBOX_PENDING
from splitcart_shared.outbox import MessagingTables

log = get_logger(__name__)


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        tables: MessagingTables,
        bus: Bus,
        *,
        service: str,
        batch: int = 500,
        idle_seconds: float = 0.2,
        concurrency: int = 4,
        feeds: frozenset[str] = frozenset(),
    ) -> None:
        self.db = db
        self.tables = tables
        self.bus = bus
        self.service = service
        self.batch = batch
        self.idle_seconds = idle_seconds
        self.feeds = feeds
        self._wake = asyncio.Event()
        # Postgres: several claim-publish loops at once (SKIP LOCKED keeps them apart), so
        # one batch's confirms are awaited while the next is being published. SQLite: one.
        self.concurrency = concurrency if db.is_postgres else 1
        self._tasks: list[asyncio.Task[None]] = []
        self._failures = 0

    def kick(self) -> None:
        """Called after a commit that added outbox rows: publish without waiting to poll."""
        self._wake.set()

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._run(), name=f"relay-{self.service}-{i}")
                for i in range(self.concurrency)
            ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _run(self) -> None:
        while True:
            try:
                published = await self.drain_once()
                self._failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failures += 1
                delay = backoff(min(self._failures, 6), 0.1, 5.0) + 0.05
                log.warning("relay.failed", service=self.service, error=str(exc), retry_in=delay)
                await asyncio.sleep(delay)
                continue
            if published < self.batch:
                await self._idle()

    async def _idle(self) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=self.idle_seconds)
        # Kicked: every loop wakes; a short pause lets a burst of commits accumulate so
        # batches stay large.
        await asyncio.sleep(0.002)

    async def drain_once(self) -> int:
        """Claim up to ``batch`` pending rows, publish them, record the outcome.

        On Postgres the claimed rows stay locked (``SKIP LOCKED``) while they are published,
        so concurrent relays never publish one row twice. SQLite runs one relay per outbox
        and its transactions lock the whole file, so there the rows are read, the lock is
        released for the (possibly in-process) handlers, and the outcome written after.
        """
        if self.db.is_postgres:
            async with self.db.transaction() as session:
                rows = (
                    await session.execute(self._claim_query().with_for_update(skip_locked=True))
                ).all()
                results = await self._publish(rows)
                error = await self._record(session, rows, results)
        else:
            async with self.db.transaction() as session:
                rows = (await session.execute(self._claim_query())).all()
            results = await self._publish(rows)
            async with self.db.transaction() as session:
                error = await self._record(session, rows, results)
        if error is not None:
            raise ConnectionError(f"publish failed: {error}")
        return len(rows)

    def _claim_query(self) -> Select[tuple[int, str, str, bytes]]:
        outbox = self.tables.outbox
        return (
            select(outbox.c.id, outbox.c.event_id, outbox.c.event_type, outbox.c.body)
            .where(outbox.c.status == "pending")
            .order_by(outbox.c.id)
            .limit(self.batch)
        )

    async def _publish(
        self, rows: Sequence[Row[tuple[int, str, str, bytes]]]
    ) -> list[Exception | None]:
        if not rows:
            return []
        results: list[Exception | None] = await self.bus.publish_raw(
            [RawEvent(r.event_id, r.event_type, r.body) for r in rows]
        )
        return results

    async def _record(
        self,
        session: AsyncSession,
        rows: Sequence[Row[tuple[int, str, str, bytes]]],
        results: list[Exception | None],
    ) -> Exception | None:
        """Mark sent rows, note errors on the others; the first transient error is returned."""
        outbox = self.tables.outbox
        now = clock.now()
        sent = [r.id for r, e in zip(rows, results, strict=True) if e is None]
        if sent:
            await session.execute(
                update(outbox).where(outbox.c.id.in_(sent)).values(status="sent", published_at=now)
            )
        first_error: Exception | None = None
        for row, error in zip(rows, results, strict=True):
            if error is None:
                EVENTS_PUBLISHED.labels(self.service, row.event_type).inc()
                continue
            unroutable = isinstance(error, Unroutable)
            if unroutable:
                EVENTS_UNROUTABLE.labels(self.service, row.event_type).inc()
                # Feeds for outside subscribers may legitimately have none bound: still
                # recorded on the row and counted, but not an operator-facing error.
                level = log.info if row.event_type in self.feeds else log.error
                level("relay.unroutable", service=self.service, event_type=row.event_type)
            else:
                first_error = first_error or error
            await session.execute(
                update(outbox)
                .where(outbox.c.id == row.id)
                .values(
                    status="unroutable" if unroutable else "pending",
                    attempts=outbox.c.attempts + 1,
                    last_error=f"{type(error).__name__}: {error}"[:2000],
                    published_at=now if unroutable else None,
                )
            )
        return first_error

    async def pending(self) -> int:
        outbox = self.tables.outbox
        async with self.db.read() as session:
            count = (
                await session.execute(
                    select(func.count()).select_from(outbox).where(outbox.c.status == "pending")
                )
            ).scalar_one()
        OUTBOX_PENDING.labels(self.service).set(count)
        return int(count)
