"""Event delivery: RabbitMQ (distributed) or in-process (embedded), one interface.

A :class:`Bus` publishes envelopes (the relay and the stateless scraper call it) and runs
:class:`Subscription` handlers. Both implementations give the same guarantees to handlers:
one transaction per delivery with an inbox row, retry with capped backoff, dead-letter after
``max_attempts`` with the error recorded, and the consumer keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import aio_pika
import aio_pika.abc
import aiormq
import aiormq.abc
from aio_pika.exceptions import DeliveryError
from pamqp import commands as spec
from sqlalchemy import DateTime, String, Table, bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert

from splitcart_shared.amqp_frames import OutgoingMessage, publish_batch
from splitcart_shared.clock import clock
from splitcart_shared.db import Database
from splitcart_shared.events import Envelope, Payload
from splitcart_shared.logging import get_logger
from splitcart_shared.metrics import EVENTS_DEAD_LETTERED, EVENTS_HANDLED, HANDLER_SECONDS
from splitcart_shared.outbox import MessagingTables

log = get_logger(__name__)

DEAD_LETTER_EXCHANGE = "splitcart.dead"

Handler = Callable[[AsyncSession, Payload, Envelope], Awaitable[None]]
AfterCommit = Callable[[Envelope], None]


class Unroutable(Exception):
    """No queue is bound for this event's routing key (mandatory publish returned it)."""


class PoisonMessage(Exception):
    """A message that can never be handled (undecodable, unknown type, invalid payload)."""


@dataclass
class Subscription:
    """One consumer: its name (queue), the routing keys it binds, and its handler."""

    consumer: str
    routing_keys: Sequence[str]
    handler: Handler
    db: Database
    tables: MessagingTables
    after_commit: list[AfterCommit] = field(default_factory=list)

    queue_prefix: str = "splitcart"

    @property
    def queue_name(self) -> str:
        return f"{self.queue_prefix}.{self.consumer}"

    def matches(self, routing_key: str) -> bool:
        return any(topic_matches(pattern, routing_key) for pattern in self.routing_keys)


def topic_matches(pattern: str, key: str) -> bool:
    """AMQP topic matching: ``*`` one word, ``#`` zero or more words."""
    return _match(pattern.split("."), key.split("."))


def _match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head in ("*", words[0])) and _match(rest, words[1:])


def decode(body: bytes) -> tuple[Envelope, Payload]:
    """Envelope + typed payload, or :class:`PoisonMessage` saying what is wrong."""
    try:
        envelope = Envelope.from_bytes(body)
        return envelope, envelope.typed()
    except Exception as exc:  # any decode/validation failure makes the message poison
        raise PoisonMessage(f"{type(exc).__name__}: {exc}") from exc


async def handle_once(sub: Subscription, envelope: Envelope, payload: Payload) -> bool:
    """Run the handler in one transaction with the inbox row; False if already handled."""
    try:
        with HANDLER_SECONDS.labels(sub.consumer, envelope.event_type).time():
            async with sub.db.transaction() as session:
                await session.execute(
                    insert(sub.tables.inbox).values(
                        consumer=sub.consumer,
                        event_id=str(envelope.event_id),
                        event_type=envelope.event_type,
                        processed_at=clock.now(),
                    )
                )
                await sub.handler(session, payload, envelope)
    except IntegrityError as exc:
        if "inbox" not in str(exc):
            raise
        EVENTS_HANDLED.labels(sub.consumer, envelope.event_type, "duplicate").inc()
        return False
    EVENTS_HANDLED.labels(sub.consumer, envelope.event_type, "ok").inc()
    for hook in sub.after_commit:
        hook(envelope)
    return True


async def handle_batch(sub: Subscription, items: Sequence[tuple[Envelope, Payload]]) -> None:
    """Handle several deliveries in one transaction: one bulk inbox insert, then each
    not-yet-seen event's handler. Any failure rolls the whole batch back (the caller then
    retries the messages one by one)."""
    async with sub.db.transaction() as session:
        fresh = await _insert_inbox(session, sub, [e for e, _ in items])
        for envelope, payload in items:
            if str(envelope.event_id) in fresh:
                fresh.discard(str(envelope.event_id))
                await sub.handler(session, payload, envelope)
    for event_type, n in Counter(e.event_type for e, _ in items).items():
        EVENTS_HANDLED.labels(sub.consumer, event_type, "ok").inc(n)
    for envelope, _ in items:
        for hook in sub.after_commit:
            hook(envelope)


async def _insert_inbox(
    session: AsyncSession, sub: Subscription, envelopes: Sequence[Envelope]
) -> set[str]:
    """Insert inbox rows, skipping ones already there; the event ids that were new."""
    dialect = session.bind.dialect.name if session.bind is not None else "postgresql"
    if dialect == "postgresql":
        # One prepared statement whatever the batch size: the ids travel as arrays.
        params = {
            "consumer": sub.consumer,
            "event_ids": [str(e.event_id) for e in envelopes],
            "event_types": [e.event_type for e in envelopes],
            "processed_at": clock.now(),
        }
        result = await session.execute(_pg_inbox_insert(sub.tables.inbox), params)
        return set(result.scalars().all())
    rows = [
        {
            "consumer": sub.consumer,
            "event_id": str(e.event_id),
            "event_type": e.event_type,
            "processed_at": clock.now(),
        }
        for e in envelopes
    ]
    stmt = (
        sqlite_insert(sub.tables.inbox)
        .values(rows)
        .on_conflict_do_nothing()
        .returning(sub.tables.inbox.c.event_id)
    )
    return set((await session.execute(stmt)).scalars().all())


@functools.cache
def _pg_inbox_insert(inbox: Table) -> ReturningInsert[Any]:
    rows = (
        func.unnest(
            bindparam("event_ids", type_=ARRAY(String)),
            bindparam("event_types", type_=ARRAY(String)),
        )
        .table_valued("event_id", "event_type")
        .render_derived()
    )
    source = select(
        bindparam("consumer", type_=String),
        rows.c.event_id,
        rows.c.event_type,
        bindparam("processed_at", type_=DateTime(timezone=True)),
    )
    return (
        pg_insert(inbox)
        .from_select(["consumer", "event_id", "event_type", "processed_at"], source)
        .on_conflict_do_nothing()
        .returning(inbox.c.event_id)
    )


def backoff(attempt: int, base: float, cap: float) -> float:
    """Capped exponential backoff with full jitter."""
    return float(random.uniform(0, min(cap, base * (2**attempt))))


async def handle_with_retries(
    sub: Subscription, body: bytes, *, max_attempts: int, base: float, cap: float
) -> tuple[bool, str | None, int]:
    """(handled, error, attempts). Poison messages fail at once; others retry with backoff."""
    try:
        envelope, payload = decode(body)
    except PoisonMessage as exc:
        return False, f"poison: {exc}", 1
    error = ""
    for attempt in range(max_attempts):
        try:
            await handle_once(sub, envelope, payload)
            return True, None, attempt + 1
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.warning("consumer.retry", consumer=sub.consumer, attempt=attempt + 1, error=error)
            if attempt + 1 < max_attempts:
                await asyncio.sleep(backoff(attempt, base, cap))
    return False, error, max_attempts


@dataclass(frozen=True)
class RawEvent:
    """An already-serialised envelope (what the relay reads from an outbox row)."""

    event_id: str
    event_type: str
    body: bytes


class Bus(Protocol):
    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def publish(self, envelope: Envelope) -> None: ...
    async def publish_many(self, envelopes: Sequence[Envelope]) -> list[Exception | None]: ...
    async def publish_raw(self, messages: Sequence[RawEvent]) -> list[Exception | None]: ...
    async def subscribe(self, sub: Subscription) -> None: ...
    async def ping(self) -> None: ...
    async def backlog(self) -> int: ...


@dataclass
class RetryPolicy:
    max_attempts: int = 5
    base: float = 0.05
    cap: float = 2.0


class InProcessBus:
    """Embedded delivery: publishing runs the matching subscriptions' handlers in-process.

    Publishing returns only after every matching handler committed or its event was
    dead-lettered, so the relay marks an outbox row sent only once it was fully delivered.
    """

    def __init__(self, retry: RetryPolicy | None = None) -> None:
        self.retry = retry or RetryPolicy()
        self.subscriptions: list[Subscription] = []

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def backlog(self) -> int:
        # Publishing returns only once every handler is done: nothing is ever waiting.
        return 0

    async def subscribe(self, sub: Subscription) -> None:
        self.subscriptions.append(sub)

    async def publish(self, envelope: Envelope) -> None:
        targets = [s for s in self.subscriptions if s.matches(envelope.event_type)]
        if not targets:
            raise Unroutable(f"no subscription for {envelope.event_type}")
        body = envelope.to_bytes()
        for sub in targets:
            await self._deliver(sub, body)

    async def publish_many(self, envelopes: Sequence[Envelope]) -> list[Exception | None]:
        results: list[Exception | None] = []
        for envelope in envelopes:
            try:
                await self.publish(envelope)
                results.append(None)
            except Exception as exc:
                results.append(exc)
        return results

    async def publish_raw(self, messages: Sequence[RawEvent]) -> list[Exception | None]:
        return await self.publish_many([Envelope.from_bytes(m.body) for m in messages])

    async def deliver_raw(self, sub: Subscription, body: bytes) -> None:
        """Deliver undecoded bytes (tests use it to inject poison messages)."""
        await self._deliver(sub, body)

    async def _deliver(self, sub: Subscription, body: bytes) -> None:
        r = self.retry
        ok, error, attempts = await handle_with_retries(
            sub, body, max_attempts=r.max_attempts, base=r.base, cap=r.cap
        )
        if not ok:
            await dead_letter_row(sub, body, error or "unknown", attempts)


async def dead_letter_row(sub: Subscription, body: bytes, error: str, attempts: int) -> None:
    """Embedded dead-letter: a row in the consumer's ``dead_letters`` table."""
    event_id, event_type = _peek(body)
    async with sub.db.transaction() as session:
        await session.execute(
            insert(sub.tables.dead_letters).values(
                consumer=sub.consumer,
                event_id=event_id,
                event_type=event_type,
                body=body,
                error=error[:4000],
                attempts=attempts,
                created_at=clock.now(),
            )
        )
    EVENTS_DEAD_LETTERED.labels(sub.consumer, event_type or "unknown").inc()
    log.error("consumer.dead_lettered", consumer=sub.consumer, event_id=event_id, error=error)


def _peek(body: bytes) -> tuple[str | None, str | None]:
    try:
        import orjson

        raw = orjson.loads(body)
        return str(raw.get("event_id")), str(raw.get("event_type"))
    except Exception:
        return None, None


class RabbitBus:
    """RabbitMQ delivery over a robust connection (channels and consumers restored on reconnect).

    Publishing uses publisher confirms and the mandatory flag, so an unroutable event raises
    :class:`Unroutable` instead of vanishing. Each subscription gets a durable queue with
    manual ack after the handler's transaction committed; after ``max_attempts`` the message
    is re-published to the dead-letter exchange with the error in its headers, then acked.
    """

    def __init__(
        self,
        url: str,
        exchange: str = "splitcart.events",
        *,
        prefetch: int = 32,
        retry: RetryPolicy | None = None,
        queue_prefix: str = "splitcart",
        batch: int = 100,
        workers: int = 2,
        linger: float = 0.02,
    ) -> None:
        self.url = url
        self.batch = batch
        self.linger = linger
        self.confirm_timeout = 30.0
        self.workers = workers
        self._workers: list[asyncio.Task[None]] = []
        self.exchange_name = exchange
        self.queue_prefix = queue_prefix
        self.dead_exchange = f"{queue_prefix}.dead"
        self.prefetch = prefetch
        self.retry = retry or RetryPolicy()
        self._conn: aio_pika.abc.AbstractRobustConnection | None = None
        self._pub_channel: aio_pika.abc.AbstractChannel | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self._consumer_channels: list[aio_pika.abc.AbstractChannel] = []
        self._consumers: list[_QueueConsumer] = []
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        async with self._lock:
            if self._conn is not None:
                return
            self._conn = await aio_pika.connect_robust(self.url, reconnect_interval=1.0)
            self._pub_channel = await self._conn.channel(
                publisher_confirms=True, on_return_raises=True
            )
            self._exchange = await declare_topology(
                self._pub_channel, self.exchange_name, self.dead_exchange
            )

    async def close(self) -> None:
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
        self._conn = None

    async def ping(self) -> None:
        if self._conn is None or self._conn.is_closed:
            raise ConnectionError("broker connection is closed")
        if self._pub_channel is None or self._pub_channel.is_closed:
            raise ConnectionError("broker channel is closed")

    async def backlog(self) -> int:
        """Events this process's queues hold for it: ready in the broker, plus delivered
        to it and not yet settled."""
        if self._conn is None or not self._consumers:
            return 0
        total = 0
        # A channel of its own: a failed passive declare closes the channel it ran on.
        async with self._conn.channel() as channel:
            for consumer in self._consumers:
                queue = await channel.declare_queue(consumer.sub.queue_name, passive=True)
                total += (queue.declaration_result.message_count or 0) + consumer.unsettled()
        return total

    async def publish(self, envelope: Envelope) -> None:
        (result,) = await self.publish_many([envelope])
        if result is not None:
            raise result

    async def publish_many(self, envelopes: Sequence[Envelope]) -> list[Exception | None]:
        return await self.publish_raw(
            [RawEvent(str(e.event_id), e.event_type, e.to_bytes()) for e in envelopes]
        )

    async def publish_raw(self, messages: Sequence[RawEvent]) -> list[Exception | None]:
        """Publish the batch as one write and await every confirm; one result per message.

        Goes through the robust channel's current aiormq channel with frames encoded in
        :mod:`splitcart_shared.amqp_frames` (persistent, mandatory, confirmed), a fraction
        of the CPU of one ``basic_publish`` per message.
        """
        if self._pub_channel is None:
            await self.start()
        assert self._pub_channel is not None
        # Fail fast while the broker is away (the relay keeps the rows and retries) instead
        # of waiting for a reconnect inside the relay's database transaction.
        if self._conn is None or self._conn.is_closed or self._pub_channel.is_closed:
            error = ConnectionError("broker connection is down")
            return [error for _ in messages]
        try:
            underlay = await asyncio.wait_for(self._pub_channel.get_underlay_channel(), 5.0)
        except TimeoutError:
            error = ConnectionError("broker channel not available")
            return [error for _ in messages]
        channel = cast(aiormq.Channel, underlay)
        try:
            futures = await publish_batch(
                channel,
                self.exchange_name,
                [OutgoingMessage(m.event_id, m.event_type, m.body) for m in messages],
            )
        except (ConnectionError, aiormq.exceptions.AMQPError) as exc:
            return [ConnectionError(f"publish failed: {exc}") for _ in messages]
        try:
            raw = await asyncio.wait_for(
                asyncio.gather(*futures, return_exceptions=True), self.confirm_timeout
            )
        except TimeoutError:
            error = ConnectionError(f"no publisher confirm within {self.confirm_timeout}s")
            return [error for _ in messages]
        return [_publish_error(r) for r in raw]

    async def subscribe(self, sub: Subscription) -> None:
        if self._conn is None:
            await self.start()
        assert self._conn is not None
        sub.queue_prefix = self.queue_prefix
        channel = await self._conn.channel()
        await channel.set_qos(prefetch_count=self.prefetch)
        exchange = await declare_topology(channel, self.exchange_name, self.dead_exchange)
        await declare_consumer_queue(
            channel, exchange, self.dead_exchange, sub.queue_name, sub.routing_keys
        )
        consumer = _QueueConsumer(self, sub, channel)
        await consumer.start()
        self._consumer_channels.append(channel)
        self._consumers.append(consumer)
        for i in range(self.workers):
            task = asyncio.create_task(consumer.work(), name=f"{sub.consumer}-{i}")
            self._workers.append(task)


class _AckWindow:
    """Which deliveries of one channel may be acked with ``multiple=True``.

    Workers finish batches out of order; acking "everything up to tag N" is safe only once
    every delivery up to N was settled (handled, dead-lettered, or rejected back to the
    queue), else a crash would lose the unfinished ones. N itself must be one still to ack:
    acking a tag already rejected closes the channel.
    """

    def __init__(self) -> None:
        self._pending: list[int] = []  # a heap of delivered, unsettled tags
        self._settled: dict[int, bool] = {}  # tag -> to be acked (False: rejected)

    def delivered(self, tag: int) -> None:
        heapq.heappush(self._pending, tag)

    def unsettled(self) -> int:
        return len(self._pending) - len(self._settled)

    def settle(self, tags: Iterable[int], *, ack: bool = True) -> int | None:
        """Mark ``tags`` settled; the tag to ack with ``multiple=True`` now, if any."""
        self._settled.update((tag, ack) for tag in tags)
        upto = None
        while self._pending and self._pending[0] in self._settled:
            tag = heapq.heappop(self._pending)
            if self._settled.pop(tag):
                upto = tag
        return upto


class _QueueConsumer:
    """One subscription's consumer: deliveries are taken in batches, each handled in one
    transaction, and acked together with one ``multiple=True`` ack after the commit.

    It consumes on the robust channel's current AMQP channel (no per-message aio-pika
    objects) and consumes again whenever that channel is reopened after a reconnect.
    """

    def __init__(
        self, bus: RabbitBus, sub: Subscription, channel: aio_pika.abc.AbstractRobustChannel
    ) -> None:
        self.bus = bus
        self.sub = sub
        self.channel = channel
        self.inbox: asyncio.Queue[aiormq.abc.DeliveredMessage] = asyncio.Queue()
        self.underlay: aiormq.abc.AbstractChannel | None = None
        self.window = _AckWindow()
        self._ack_lock = asyncio.Lock()

    async def start(self) -> None:
        await self._consume()
        self.channel.reopen_callbacks.add(self._consume)

    def unsettled(self) -> int:
        """Deliveries received and not yet handled, dead-lettered or given back."""
        return self.window.unsettled()

    async def _consume(self, _: aio_pika.abc.AbstractRobustChannel | None = None) -> None:
        underlay = await self.channel.get_underlay_channel()
        # Tags restart on a new channel; deliveries still held from the old one are never
        # acked (the broker redelivers them and the inbox makes that a no-op).
        self.underlay, self.window = underlay, _AckWindow()
        try:
            await underlay.basic_consume(self.sub.queue_name, self._on_delivery)
        except Exception as exc:
            log.error("consumer.consume_failed", consumer=self.sub.consumer, error=str(exc))
            raise

    async def _on_delivery(self, message: aiormq.abc.DeliveredMessage) -> None:
        if message.channel is self.underlay and message.delivery_tag is not None:
            self.window.delivered(message.delivery_tag)
        self.inbox.put_nowait(message)

    async def work(self) -> None:
        """Take what is waiting (up to ``batch``) and handle it in one transaction."""
        while True:
            batch = await self._next_batch()
            try:
                await self._handle(batch)
                await self._settle(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let one bad batch stop the consumer
                log.error("consumer.batch_failed", consumer=self.sub.consumer, error=str(exc))
                with contextlib.suppress(Exception):
                    await self._settle(batch, ack=False)

    async def _next_batch(self) -> list[aiormq.abc.DeliveredMessage]:
        loop = asyncio.get_running_loop()
        batch = [await self.inbox.get()]
        # Linger briefly so a burst lands in one commit: a commit costs about the same for
        # one message as for a hundred.
        deadline = loop.time() + self.bus.linger
        while len(batch) < self.bus.batch:
            if not self.inbox.empty():
                batch.append(self.inbox.get_nowait())
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self.inbox.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _handle(self, batch: list[aiormq.abc.DeliveredMessage]) -> None:
        good: list[tuple[aiormq.abc.DeliveredMessage, Envelope, Payload]] = []
        for message in batch:
            try:
                good.append((message, *decode(message.body)))
            except PoisonMessage as exc:
                await self._dead_letter(message, f"poison: {exc}", 1)
        if len(good) > 1:
            try:
                await handle_batch(self.sub, [(e, p) for _, e, p in good])
            except Exception as exc:
                log.warning(
                    "consumer.batch_retry_singly", consumer=self.sub.consumer, error=str(exc)
                )
            else:
                return
        retry = self.bus.retry
        for message, _, _ in good:
            ok, error, attempts = await handle_with_retries(
                self.sub,
                message.body,
                max_attempts=retry.max_attempts,
                base=retry.base,
                cap=retry.cap,
            )
            if not ok:
                await self._dead_letter(message, error or "unknown", attempts)

    async def _settle(self, batch: list[aiormq.abc.DeliveredMessage], *, ack: bool = True) -> None:
        """Ack after the commit (one ``multiple=True`` ack for everything settled so far), or
        reject back to the queue (``ack=False``) so that the broker delivers them again."""
        # Under the lock the acked tag only grows: an older "up to" ack sent after a newer
        # one would name an already acked tag, which closes the channel.
        async with self._ack_lock:
            underlay = self.underlay
            tags = [t for m in batch if m.channel is underlay and (t := m.delivery_tag) is not None]
            if underlay is None or underlay.is_closed:
                return
            if not ack:
                for tag in tags:
                    await underlay.basic_nack(tag, requeue=True)
            upto = self.window.settle(tags, ack=ack)
            if upto is not None:
                await underlay.basic_ack(upto, multiple=True)

    async def _dead_letter(
        self, message: aiormq.abc.DeliveredMessage, error: str, attempts: int
    ) -> None:
        properties = message.header.properties
        headers: dict[str, Any] = dict(properties.headers or {})
        headers.update(
            {
                "x-error": error[:4000],
                "x-attempts": attempts,
                "x-consumer": self.sub.consumer,
                "x-original-routing-key": message.routing_key or "",
            }
        )
        dlx = await self.channel.get_exchange(self.bus.dead_exchange)
        await dlx.publish(
            aio_pika.Message(
                body=message.body,
                headers=headers,
                message_id=properties.message_id,
                type=properties.message_type,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=self.sub.queue_name,
        )
        EVENTS_DEAD_LETTERED.labels(self.sub.consumer, properties.message_type or "unknown").inc()
        log.error("consumer.dead_lettered", consumer=self.sub.consumer, error=error)


def _publish_error(result: object) -> Exception | None:
    if isinstance(result, DeliveryError):
        frame = getattr(result, "frame", None)
        if frame is not None and type(frame).__name__ == "Return":
            return Unroutable(f"no queue bound for {getattr(frame, 'routing_key', '?')}")
        return result
    if isinstance(result, spec.Basic.Nack):
        return ConnectionError("the broker refused the message (nack)")
    if isinstance(result, BaseException):
        return result if isinstance(result, Exception) else RuntimeError(str(result))
    return None


async def declare_topology(
    channel: aio_pika.abc.AbstractChannel, exchange: str, dead_exchange: str = DEAD_LETTER_EXCHANGE
) -> aio_pika.abc.AbstractExchange:
    await channel.declare_exchange(dead_exchange, aio_pika.ExchangeType.DIRECT, durable=True)
    return await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)


async def declare_consumer_queue(
    channel: aio_pika.abc.AbstractChannel,
    exchange: aio_pika.abc.AbstractExchange,
    dead_exchange: str,
    queue_name: str,
    routing_keys: Sequence[str],
) -> aio_pika.abc.AbstractQueue:
    """The consumer's durable queue, its bindings, and its dead-letter queue."""
    dead = await channel.declare_queue(f"{queue_name}.dead", durable=True)
    await dead.bind(dead_exchange, routing_key=queue_name)
    queue = await channel.declare_queue(queue_name, durable=True)
    for key in routing_keys:
        await queue.bind(exchange, routing_key=key)
    return queue


def make_bus(
    amqp_url: str | None,
    exchange: str,
    prefetch: int,
    retry: RetryPolicy,
    queue_prefix: str = "splitcart",
    batch: int = 100,
    workers: int = 2,
) -> Bus:
    if amqp_url:
        return RabbitBus(
            amqp_url,
            exchange,
            prefetch=prefetch,
            retry=retry,
            queue_prefix=queue_prefix,
            batch=batch,
            workers=workers,
        )
    return InProcessBus(retry)
