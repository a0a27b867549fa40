"""The outbox relay: publishes committed outbox rows and marks them sent.

Rows are claimed with ``FOR UPDATE SKIP LOCKED`` on Postgres, so several relays (one per
replica) can drain one outbox without publishing a row twice; SQLite serialises claims with
its write lock. A row counts as ``sent`` only once the broker confirmed it: on Postgres the
claim marks the rows sent inside a transaction that stays open while they are published,
and rows whose publish failed are set back before it commits (a crash rolls the whole
claim back); a failed publish leaves the row pending for the next pass (at-least-once;
consumers are idempotent). An unroutable event is an error: the row is marked
``unroutable`` with the reason, logged and counted, never silently dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, defaultdict, deque
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Select, bindparam, func, select, text, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningUpdate

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
        self._idle_loops: deque[asyncio.Future[None]] = deque()
        self._kicked = False
        # Postgres: several claim-publish loops at once (SKIP LOCKED keeps them apart), so
        # one batch's confirms are awaited while the next is being published. SQLite: one.
        self.concurrency = concurrency if db.is_postgres else 1
        self._tasks: list[asyncio.Task[None]] = []
        self._failures = 0

    def kick(self) -> None:
        """Called after a commit that added outbox rows: publish without waiting to poll.

        Wakes one idle loop (a loop that then finds a full batch wakes the next), so a
        trickle of small commits costs one claim each, not one per loop.
        """
        while self._idle_loops:
            waiter = self._idle_loops.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._kicked = True  # every loop is busy: the next to finish drains again

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
            if published >= self.batch:
                self.kick()  # more is waiting: bring another loop in
            else:
                await self._idle()

    async def _idle(self) -> None:
        if self._kicked:
            self._kicked = False
            return
        waiter = asyncio.get_running_loop().create_future()
        self._idle_loops.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout=self.idle_seconds)
        except TimeoutError:
            return
        finally:
            with contextlib.suppress(ValueError):
                self._idle_loops.remove(waiter)
        # A short pause lets a burst of commits accumulate so batches stay large.
        await asyncio.sleep(0.002)

    async def drain_once(self) -> int:
        """Claim up to ``batch`` pending rows, publish them, record the outcome.

        On Postgres the claimed rows stay locked (``SKIP LOCKED``) while they are published,
        so concurrent relays never publish one row twice. SQLite runs one relay per outbox
        and its transactions lock the whole file, so there the rows are read, the lock is
        released for the (possibly in-process) handlers, and the outcome written after.
        """
        drain = self._drain_postgres if self.db.is_postgres else self._drain_sqlite
        count, error = await drain()
        if error is not None:
            raise ConnectionError(f"publish failed: {error}")
        return count

    async def _drain_postgres(self) -> tuple[int, Exception | None]:
        async with self.db.transaction() as session:
            # The commit only records "sent": if a crash lost it, the rows would be published
            # again, which at-least-once delivery allows (consumers dedupe by inbox), so it
            # need not wait for the WAL flush.
            await session.execute(text("SET LOCAL synchronous_commit = off"))
            claimed = await session.execute(self._claim_and_mark_sent(), {"now": clock.now()})
            rows = sorted(claimed.all(), key=lambda r: int(r.id))
            results = await self._publish(rows)
            return len(rows), await self._record(session, rows, results, marked_sent=True)

    async def _drain_sqlite(self) -> tuple[int, Exception | None]:
        async with self.db.transaction() as session:
            rows = (await session.execute(self._claim_query())).all()
        results = await self._publish(rows)
        async with self.db.transaction() as session:
            return len(rows), await self._record(session, rows, results)

    def _claim_and_mark_sent(self) -> ReturningUpdate[Any]:
        """One statement: lock up to ``batch`` pending rows, mark them sent, return them."""
        outbox = self.tables.outbox
        claimed = (
            select(outbox.c.id)
            .where(outbox.c.status == "pending")
            .order_by(outbox.c.id)
            .limit(self.batch)
            .with_for_update(skip_locked=True)
            .cte("claimed")
        )
        return (
            update(outbox)
            .where(outbox.c.id == claimed.c.id)
            .values(status="sent", published_at=bindparam("now", type_=DateTime(timezone=True)))
            .returning(outbox.c.id, outbox.c.event_id, outbox.c.event_type, outbox.c.body)
        )

    def _claim_query(self) -> Select[tuple[int, str, str, bytes]]:
        outbox = self.tables.outbox
        return (
            select(outbox.c.id, outbox.c.event_id, outbox.c.event_type, outbox.c.body)
            .where(outbox.c.status == "pending")
            .order_by(outbox.c.id)
            .limit(self.batch)
        )

    async def _publish(self, rows: Sequence[Row[Any]]) -> list[Exception | None]:
        if not rows:
            return []
        results: list[Exception | None] = await self.bus.publish_raw(
            [RawEvent(r.event_id, r.event_type, r.body) for r in rows]
        )
        return results

    async def _record(
        self,
        session: AsyncSession,
        rows: Sequence[Row[Any]],
        results: list[Exception | None],
        *,
        marked_sent: bool = False,
    ) -> Exception | None:
        """Mark sent rows (unless the claim did), note errors on the others; the first
        transient error is returned."""
        outbox = self.tables.outbox
        now = clock.now()
        sent = [r for r, e in zip(rows, results, strict=True) if e is None]
        if sent and not marked_sent:
            await session.execute(
                update(outbox)
                .where(outbox.c.id.in_([r.id for r in sent]))
                .values(status="sent", published_at=now)
            )
        for event_type, n in Counter(r.event_type for r in sent).items():
            EVENTS_PUBLISHED.labels(self.service, event_type).inc(n)
        failed: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
        first_error: Exception | None = None
        for row, error in zip(rows, results, strict=True):
            if error is None:
                continue
            if isinstance(error, Unroutable):
                self._note_unroutable(row.event_type)
                status = "unroutable"
            else:
                first_error = first_error or error
                status = "pending"
            failed[(status, f"{type(error).__name__}: {error}"[:2000])].append(row.id)
        for (status, message), ids in failed.items():
            await self._mark_failed(session, ids, status, message, now)
        return first_error

    def _note_unroutable(self, event_type: str) -> None:
        EVENTS_UNROUTABLE.labels(self.service, event_type).inc()
        # Feeds for outside subscribers may legitimately have none bound: still recorded on
        # the row and counted, but not an operator-facing error.
        level = log.info if event_type in self.feeds else log.error
        level("relay.unroutable", service=self.service, event_type=event_type)

    async def _mark_failed(
        self, session: AsyncSession, ids: list[int], status: str, message: str, now: datetime
    ) -> None:
        outbox = self.tables.outbox
        await session.execute(
            update(outbox)
            .where(outbox.c.id.in_(ids))
            .values(
                status=status,
                attempts=outbox.c.attempts + 1,
                last_error=message,
                published_at=now if status == "unroutable" else None,
            )
        )

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
