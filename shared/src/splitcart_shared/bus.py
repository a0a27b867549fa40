"""Event delivery: RabbitMQ (distributed) or in-process (embedded), one interface.

A :class:`Bus` publishes envelopes (the relay and the stateless scraper call it) and runs
:class:`Subscription` handlers. Both implementations give the same guarantees to handlers:
one transaction per delivery with an inbox row, retry with capped backoff, dead-letter after
``max_attempts`` with the error recorded, and the consumer keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import aio_pika
import aio_pika.abc
from aio_pika.exceptions import DeliveryError
from pamqp import commands as spec
from sqlalchemy import insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

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
    for envelope, _ in items:
        EVENTS_HANDLED.labels(sub.consumer, envelope.event_type, "ok").inc()
        for hook in sub.after_commit:
            hook(envelope)


async def _insert_inbox(
    session: AsyncSession, sub: Subscription, envelopes: Sequence[Envelope]
) -> set[str]:
    """Insert inbox rows, skipping ones already there; the event ids that were new."""
    rows = [
        {
            "consumer": sub.consumer,
            "event_id": str(e.event_id),
            "event_type": e.event_type,
            "processed_at": clock.now(),
        }
        for e in envelopes
    ]
    dialect = session.bind.dialect.name if session.bind is not None else "postgresql"
    insert_fn = sqlite_insert if dialect == "sqlite" else pg_insert
    stmt = (
        insert_fn(sub.tables.inbox)
        .values(rows)
        .on_conflict_do_nothing()
        .returning(sub.tables.inbox.c.event_id)
    )
    return set((await session.execute(stmt)).scalars().all())


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

    async def publish(self, envelope: Envelope) -> None:
        (result,) = await self.publish_many([envelope])
        if result is not None:
            raise result

    async def publish_many(self, envelopes: Sequence[Envelope]) -> list[Exception | None]:
        return await self.publish_raw(
            [RawEvent(str(e.event_id), e.event_type, e.to_bytes()) for e in envelopes]
        )

    async def publish_raw(self, messages: Sequence[RawEvent]) -> list[Exception | None]:
        """Publish concurrently (confirms are pipelined); one result per message.

        Goes through the robust channel's current aiormq channel: a third of the CPU of
        building aio-pika ``Message`` objects, with the same confirms and mandatory flag.
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
            channel = await asyncio.wait_for(self._pub_channel.get_underlay_channel(), 5.0)
        except TimeoutError:
            error = ConnectionError("broker channel not available")
            return [error for _ in messages]
        coros = [
            channel.basic_publish(
                m.body,
                exchange=self.exchange_name,
                routing_key=m.event_type,
                mandatory=True,
                properties=spec.Basic.Properties(
                    message_id=m.event_id,
                    message_type=m.event_type,
                    content_type="application/json",
                    delivery_mode=2,
                ),
            )
            for m in messages
        ]
        try:
            raw = await asyncio.wait_for(
                asyncio.gather(*coros, return_exceptions=True), self.confirm_timeout
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
        queue = await declare_consumer_queue(
            channel, exchange, self.dead_exchange, sub.queue_name, sub.routing_keys
        )

        inbox: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage] = asyncio.Queue()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            inbox.put_nowait(message)

        await queue.consume(on_message)
        self._consumer_channels.append(channel)
        for i in range(self.workers):
            task = asyncio.create_task(self._work(sub, channel, inbox), name=f"{sub.consumer}-{i}")
            self._workers.append(task)

    async def _work(
        self,
        sub: Subscription,
        channel: aio_pika.abc.AbstractChannel,
        inbox: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage],
    ) -> None:
        """Take what is waiting (up to ``batch``) and handle it in one transaction."""
        loop = asyncio.get_running_loop()
        while True:
            batch = [await inbox.get()]
            # Linger briefly so a burst lands in one commit: a commit costs about the same
            # for one message as for a hundred.
            deadline = loop.time() + self.linger
            while len(batch) < self.batch:
                if inbox.empty():
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        batch.append(await asyncio.wait_for(inbox.get(), remaining))
                    except TimeoutError:
                        break
                else:
                    batch.append(inbox.get_nowait())
            try:
                await self._handle_batch(sub, channel, batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let one bad batch stop the consumer
                log.error("consumer.batch_failed", consumer=sub.consumer, error=str(exc))

    async def _handle_batch(
        self,
        sub: Subscription,
        channel: aio_pika.abc.AbstractChannel,
        batch: list[aio_pika.abc.AbstractIncomingMessage],
    ) -> None:
        good: list[tuple[aio_pika.abc.AbstractIncomingMessage, Envelope, Payload]] = []
        for message in batch:
            try:
                good.append((message, *decode(message.body)))
            except PoisonMessage as exc:
                await self._dead_letter(sub, channel, message, f"poison: {exc}", 1)
                await message.ack()
        if len(good) > 1:
            try:
                await handle_batch(sub, [(e, p) for _, e, p in good])
            except Exception as exc:
                log.warning("consumer.batch_retry_singly", consumer=sub.consumer, error=str(exc))
            else:
                for message, _, _ in good:
                    await message.ack()
                return
        for message, _, _ in good:
            await self._handle_single(sub, channel, message)

    async def _handle_single(
        self,
        sub: Subscription,
        channel: aio_pika.abc.AbstractChannel,
        message: aio_pika.abc.AbstractIncomingMessage,
    ) -> None:
        r = self.retry
        ok, error, attempts = await handle_with_retries(
            sub, message.body, max_attempts=r.max_attempts, base=r.base, cap=r.cap
        )
        if not ok:
            await self._dead_letter(sub, channel, message, error or "unknown", attempts)
        await message.ack()

    async def _dead_letter(
        self,
        sub: Subscription,
        channel: aio_pika.abc.AbstractChannel,
        message: aio_pika.abc.AbstractIncomingMessage,
        error: str,
        attempts: int,
    ) -> None:
        dlx = await channel.get_exchange(self.dead_exchange)
        headers: dict[str, Any] = dict(message.headers or {})
        headers.update(
            {
                "x-error": error[:4000],
                "x-attempts": attempts,
                "x-consumer": sub.consumer,
                "x-original-routing-key": message.routing_key or "",
            }
        )
        await dlx.publish(
            aio_pika.Message(
                body=message.body,
                headers=headers,
                message_id=message.message_id,
                type=message.type,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=sub.queue_name,
        )
        EVENTS_DEAD_LETTERED.labels(sub.consumer, message.type or "unknown").inc()
        log.error("consumer.dead_lettered", consumer=sub.consumer, error=error)


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
