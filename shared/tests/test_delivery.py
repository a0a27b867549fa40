"""Delivery guarantees of the outbox, relay and bus, on both backends.

``embedded``: SQLite + in-process delivery. ``distributed``: Postgres + RabbitMQ.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aio_pika
import pytest
import pytest_asyncio
from splitcart_ingest.models import messaging as producer_tables
from splitcart_scheduler.models import messaging as consumer_tables
from splitcart_shared import testing
from splitcart_shared.bus import (
    Bus,
    InProcessBus,
    RabbitBus,
    RetryPolicy,
    Subscription,
    _AckWindow,
    decode,
    handle_batch,
    handle_once,
)
from splitcart_shared.db import Database
from splitcart_shared.events import Envelope, Payload, StoreRescrapeRequested
from splitcart_shared.outbox import Outbox
from splitcart_shared.relay import OutboxRelay
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

FAST_RETRY = RetryPolicy(max_attempts=3, base=0.001, cap=0.01)


@dataclass
class Stack:
    kind: str
    db: Database
    bus: Bus
    outbox: Outbox
    relay: OutboxRelay
    prefix: str
    amqp_url: str | None


async def _effects_table(db: Database) -> None:
    async with db.transaction() as session:
        await session.execute(
            text("CREATE TABLE IF NOT EXISTS archive.bus_effects (event_id VARCHAR(36) NOT NULL)")
        )
        await session.execute(text("DELETE FROM archive.bus_effects"))


async def record_effect(session: AsyncSession, payload: Payload, envelope: Envelope) -> None:
    await session.execute(
        text("INSERT INTO archive.bus_effects (event_id) VALUES (:e)"),
        {"e": str(envelope.event_id)},
    )


async def effects(db: Database) -> list[str]:
    async with db.read() as session:
        rows = await session.execute(text("SELECT event_id FROM archive.bus_effects"))
        return [r[0] for r in rows]


@pytest.fixture(params=["embedded", "distributed"])
def stack_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def stack_urls(stack_kind: str, request: pytest.FixtureRequest) -> tuple[str, str | None]:
    if stack_kind == "embedded":
        return request.getfixturevalue("sqlite_database"), None
    return request.getfixturevalue("postgres_database"), request.getfixturevalue("amqp_url")


@pytest_asyncio.fixture
async def stack(stack_kind: str, stack_urls: tuple[str, str | None]) -> AsyncIterator[Stack]:
    prefix = testing.unique_name("bustest")
    url, amqp = stack_urls
    bus: Bus
    if amqp is None:
        bus = InProcessBus(FAST_RETRY)
    else:
        bus = RabbitBus(amqp, f"{prefix}.events", retry=FAST_RETRY, queue_prefix=prefix)
    db = Database(url)
    await _effects_table(db)
    await bus.start()
    outbox = Outbox(producer_tables, producer="ingest")
    relay = OutboxRelay(db, producer_tables, bus, service="ingest", idle_seconds=0.02)
    yield Stack(stack_kind, db, bus, outbox, relay, prefix, amqp)
    await relay.stop()
    await bus.close()
    if amqp is not None:
        await _delete_queues(amqp, prefix)
    await db.dispose()


async def _delete_queues(amqp_url: str, prefix: str) -> None:
    conn = await aio_pika.connect(amqp_url)
    async with conn:
        channel = await conn.channel()
        for name in (f"{prefix}.bustest", f"{prefix}.bustest.dead"):
            try:
                await channel.queue_delete(name)
            except Exception:
                channel = await conn.channel()
        await channel.exchange_delete(f"{prefix}.events")
        await channel.exchange_delete(f"{prefix}.dead")


def subscription(stack: Stack) -> Subscription:
    return Subscription(
        "bustest", ["store.rescrape_requested"], record_effect, stack.db, consumer_tables
    )


def event(store: str = "G1") -> StoreRescrapeRequested:
    return StoreRescrapeRequested(company="aldi", store_id=store, reason="manual")


async def test_rolled_back_event_is_never_delivered_and_committed_one_is_delivered_once(
    stack: Stack,
) -> None:
    await stack.bus.subscribe(subscription(stack))
    with pytest.raises(RuntimeError):
        async with stack.db.transaction() as session:
            await stack.outbox.add(session, event("rolled-back"))
            raise RuntimeError("the state change failed")
    async with stack.db.transaction() as session:
        committed = await stack.outbox.add(session, event("committed"))
    stack.relay.start()
    await testing.wait_for(lambda: effects(stack.db))
    await asyncio.sleep(0)  # let any stray second delivery surface before counting
    await testing.wait_for(lambda: _relay_idle(stack))
    assert await effects(stack.db) == [str(committed.event_id)]


async def _relay_idle(stack: Stack) -> bool:
    return await stack.relay.pending() == 0


async def test_redelivered_event_changes_nothing(stack: Stack) -> None:
    sub = subscription(stack)
    envelope = Envelope.wrap(event(), producer="ingest")
    _, payload = decode(envelope.to_bytes())
    assert await handle_once(sub, envelope, payload) is True
    assert await handle_once(sub, envelope, payload) is False
    assert await effects(stack.db) == [str(envelope.event_id)]


async def test_a_batch_handles_each_new_event_once_and_skips_handled_ones(stack: Stack) -> None:
    sub = subscription(stack)
    seen = Envelope.wrap(event("seen"), producer="ingest")
    fresh = [Envelope.wrap(event(f"G{i}"), producer="ingest") for i in range(3)]
    assert await handle_once(sub, seen, seen.typed()) is True
    await handle_batch(sub, [(e, e.typed()) for e in [seen, *fresh, fresh[0]]])
    assert sorted(await effects(stack.db)) == sorted(str(e.event_id) for e in [seen, *fresh])


async def test_a_burst_of_events_is_delivered_once_each_and_fully_acked(stack: Stack) -> None:
    await stack.bus.subscribe(subscription(stack))
    async with stack.db.transaction() as session:
        sent = await stack.outbox.add_many(session, [event(f"G{i}") for i in range(300)])
    stack.relay.start()
    await testing.wait_for(lambda: _count_is(stack.db, 300), timeout=30)
    await testing.wait_for(lambda: _relay_idle(stack))
    assert sorted(await effects(stack.db)) == sorted(str(e.event_id) for e in sent)
    if stack.amqp_url is not None:
        await stack.bus.close()  # anything left unacked goes back to the queue
        assert await _ready_messages(stack.amqp_url, f"{stack.prefix}.bustest") == 0


async def _ready_messages(amqp_url: str, name: str) -> int:
    conn = await aio_pika.connect(amqp_url)
    async with conn:
        channel = await conn.channel()
        queue = await channel.declare_queue(name, durable=True, passive=True)
        return int(queue.declaration_result.message_count or 0)


def test_acks_never_reach_past_an_unsettled_delivery_nor_name_a_rejected_one() -> None:
    window = _AckWindow()
    for tag in (1, 2, 3, 4, 5, 6):
        window.delivered(tag)
    assert window.settle([3, 4]) is None  # 1 and 2 are still being handled
    assert window.settle([1]) == 1
    assert window.settle([2], ack=False) == 4  # 2 went back to the queue; ack 3-4
    assert window.settle([6], ack=False) is None
    assert window.settle([5]) == 5


async def test_poison_message_is_dead_lettered_and_next_good_message_is_handled(
    stack: Stack,
) -> None:
    sub = subscription(stack)
    await stack.bus.subscribe(sub)
    good = Envelope.wrap(event("good"), producer="ingest")
    if isinstance(stack.bus, InProcessBus):
        await stack.bus.deliver_raw(sub, b'{"event_type": "store.rescrape_requested", "nonsense"')
        await stack.bus.deliver_raw(sub, good.to_bytes())
        async with stack.db.read() as session:
            errors = (
                (await session.execute(select(consumer_tables.dead_letters.c.error)))
                .scalars()
                .all()
            )
        assert len(errors) == 1 and errors[0].startswith("poison")
    else:
        assert stack.amqp_url is not None
        await _publish_raw(stack, b"not json at all")
        await stack.bus.publish(good)
        dead = await testing.wait_for(lambda: _get_dead(stack), timeout=10)
        assert dead.body == b"not json at all"
        assert str((dead.headers or {})["x-error"]).startswith("poison")
    await testing.wait_for(lambda: effects(stack.db))
    assert await effects(stack.db) == [str(good.event_id)]


async def _publish_raw(stack: Stack, body: bytes) -> None:
    assert stack.amqp_url is not None
    conn = await aio_pika.connect(stack.amqp_url)
    async with conn:
        channel = await conn.channel()
        exchange = await channel.get_exchange(f"{stack.prefix}.events")
        await exchange.publish(aio_pika.Message(body=body), routing_key="store.rescrape_requested")


async def _get_dead(stack: Stack) -> aio_pika.abc.AbstractIncomingMessage | None:
    assert stack.amqp_url is not None
    conn = await aio_pika.connect(stack.amqp_url)
    async with conn:
        channel = await conn.channel()
        queue = await channel.get_queue(f"{stack.prefix}.bustest.dead")
        message = await queue.get(no_ack=True, fail=False)
        return message


async def test_handler_failing_every_attempt_is_dead_lettered_with_its_error(db: Database) -> None:
    bus = InProcessBus(FAST_RETRY)

    async def broken(session: AsyncSession, payload: Payload, envelope: Envelope) -> None:
        raise ValueError("cannot handle this store")

    sub = Subscription("bustest", ["store.#"], broken, db, consumer_tables)
    await bus.subscribe(sub)
    await bus.publish(Envelope.wrap(event(), producer="ingest"))
    async with db.read() as session:
        row = (await session.execute(select(consumer_tables.dead_letters))).one()
    assert row.attempts == FAST_RETRY.max_attempts
    assert "cannot handle this store" in row.error


@pytest.mark.broker
async def test_consumer_that_dies_before_ack_gets_the_message_again_and_changes_nothing(
    postgres_database: str, amqp_url: str
) -> None:
    prefix = testing.unique_name("bustest")
    db = Database(postgres_database)
    await _effects_table(db)
    bus = RabbitBus(amqp_url, f"{prefix}.events", retry=FAST_RETRY, queue_prefix=prefix)
    stack = Stack("distributed", db, bus, Outbox(producer_tables, "ingest"), None, prefix, amqp_url)  # type: ignore[arg-type]
    sub = subscription(stack)
    sub.queue_prefix = prefix
    try:
        await bus.start()
        conn = await aio_pika.connect(amqp_url)
        channel = await conn.channel()
        from splitcart_shared.bus import declare_consumer_queue, declare_topology

        exchange = await declare_topology(channel, f"{prefix}.events", f"{prefix}.dead")
        queue = await declare_consumer_queue(
            channel, exchange, f"{prefix}.dead", sub.queue_name, sub.routing_keys
        )
        envelope = Envelope.wrap(event(), producer="ingest")
        await bus.publish(envelope)
        message = await testing.wait_for(lambda: queue.get(no_ack=False, fail=False))
        _, payload = decode(message.body)
        assert await handle_once(sub, envelope, payload) is True  # committed...
        await conn.close()  # ...and the process dies before it acks
        await bus.subscribe(sub)  # a new consumer gets the message again
        await testing.wait_for(lambda: _queue_empty(amqp_url, sub.queue_name))
        async with db.read() as session:
            inbox = (
                await session.execute(select(func.count()).select_from(consumer_tables.inbox))
            ).scalar_one()
        assert inbox == 1
        assert await effects(db) == [str(envelope.event_id)]
    finally:
        await bus.close()
        await _delete_queues(amqp_url, prefix)
        await db.dispose()


async def _queue_empty(amqp_url: str, name: str) -> bool:
    conn = await aio_pika.connect(amqp_url)
    async with conn:
        channel = await conn.channel()
        queue = await channel.declare_queue(name, durable=True, passive=True)
        return (
            queue.declaration_result.message_count == 0
            and (queue.declaration_result.consumer_count or 0) > 0
        )


@pytest.mark.broker
async def test_event_committed_while_broker_is_unreachable_is_delivered_once_after_it_returns(
    postgres_database: str, amqp_url: str
) -> None:
    prefix = testing.unique_name("bustest")
    proxy = testing.TcpProxy("127.0.0.1", 5672)
    port = await proxy.start()
    proxied = amqp_url.replace(":5672", f":{port}")
    db = Database(postgres_database)
    await _effects_table(db)
    consumer_bus = RabbitBus(amqp_url, f"{prefix}.events", retry=FAST_RETRY, queue_prefix=prefix)
    producer_bus = RabbitBus(proxied, f"{prefix}.events", retry=FAST_RETRY, queue_prefix=prefix)
    relay = OutboxRelay(db, producer_tables, producer_bus, service="ingest", idle_seconds=0.02)
    outbox = Outbox(producer_tables, producer="ingest")
    stack = Stack("distributed", db, consumer_bus, outbox, relay, prefix, amqp_url)
    try:
        await consumer_bus.subscribe(subscription(stack))
        await producer_bus.start()
        await proxy.cut()
        async with db.transaction() as session:
            sent = [await outbox.add(session, event(f"G{i}")) for i in range(20)]
        relay.start()
        await testing.wait_for(lambda: _attempted(db))
        assert await effects(db) == []
        await proxy.restore()
        await testing.wait_for(lambda: _count_is(db, 20), timeout=30)
        await testing.wait_for(lambda: _relay_idle(stack), timeout=30)
        assert sorted(await effects(db)) == sorted(str(e.event_id) for e in sent)
    finally:
        await relay.stop()
        await producer_bus.close()
        await consumer_bus.close()
        await proxy.cut()
        await _delete_queues(amqp_url, prefix)
        await db.dispose()


async def _attempted(db: Database) -> bool:
    async with db.read() as session:
        attempts = (
            await session.execute(select(func.max(producer_tables.outbox.c.attempts)))
        ).scalar_one()
    return bool(attempts)


async def _count_is(db: Database, n: int) -> bool:
    return len(await effects(db)) >= n


@pytest.mark.broker
async def test_consumer_is_restored_after_the_broker_connection_comes_back(
    postgres_database: str, amqp_url: str
) -> None:
    prefix = testing.unique_name("bustest")
    proxy = testing.TcpProxy("127.0.0.1", 5672)
    port = await proxy.start()
    db = Database(postgres_database)
    await _effects_table(db)
    consumer_bus = RabbitBus(
        amqp_url.replace(":5672", f":{port}"),
        f"{prefix}.events",
        retry=FAST_RETRY,
        queue_prefix=prefix,
    )
    producer_bus = RabbitBus(amqp_url, f"{prefix}.events", retry=FAST_RETRY, queue_prefix=prefix)
    stack = Stack(
        "distributed", db, consumer_bus, Outbox(producer_tables, "ingest"), None, prefix, amqp_url
    )  # type: ignore[arg-type]
    try:
        await consumer_bus.subscribe(subscription(stack))
        await proxy.cut()
        await proxy.restore()
        envelope = Envelope.wrap(event(), producer="ingest")
        await producer_bus.publish(envelope)
        await testing.wait_for(lambda: effects(db), timeout=30)
        assert await effects(db) == [str(envelope.event_id)]
    finally:
        await producer_bus.close()
        await consumer_bus.close()
        await proxy.cut()
        await _delete_queues(amqp_url, prefix)
        await db.dispose()


async def test_the_backlog_counts_events_sent_and_not_yet_handled(stack: Stack) -> None:
    release = asyncio.Event()

    async def slow(session: AsyncSession, payload: Payload, envelope: Envelope) -> None:
        await release.wait()
        await record_effect(session, payload, envelope)

    sub = Subscription("bustest", ["store.rescrape_requested"], slow, stack.db, consumer_tables)
    await stack.bus.subscribe(sub)
    assert await stack.bus.backlog() == 0
    async with stack.db.transaction() as session:
        await stack.outbox.add_many(session, [event(f"G{i}") for i in range(5)])
    if stack.amqp_url is None:
        # Embedded delivery runs the handlers inside the publish: the outbox holds the rest.
        assert await stack.relay.pending() == 5
        assert await stack.bus.backlog() == 0
        release.set()
        stack.relay.start()
    else:
        stack.relay.start()
        await testing.wait_for(lambda: _relay_idle(stack))
        # In the broker's queue, or taken and not settled (once they have reached us).
        await testing.wait_for(lambda: _backlog_is(stack, 5))
        release.set()
    await testing.wait_for(lambda: _count_is(stack.db, 5), timeout=30)
    await testing.wait_for(lambda: _relay_idle(stack))
    await testing.wait_for(lambda: _backlog_is(stack, 0))


async def _backlog_is(stack: Stack, expected: int) -> bool:
    return await stack.bus.backlog() == expected
