"""Batch publishing: frames equal to pamqp's, and the broker's confirms, returns and
ordering handled as for one ``basic_publish`` per message (real RabbitMQ)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import cast

import aio_pika
import aiormq
import pamqp.frame
import pytest
import pytest_asyncio
from pamqp import commands as spec
from pamqp.body import ContentBody
from pamqp.header import ContentHeader
from splitcart_shared import testing
from splitcart_shared.amqp_frames import OutgoingMessage, encode_publish, publish_batch
from splitcart_shared.bus import RabbitBus, RawEvent, Unroutable


def _pamqp_publish(channel: int, exchange: str, m: OutgoingMessage, max_body: int) -> bytes:
    properties = spec.Basic.Properties(
        content_type="application/json",
        delivery_mode=2,
        message_id=m.message_id,
        message_type=m.routing_key,
    )
    frames: list[bytes] = [
        pamqp.frame.marshal(
            spec.Basic.Publish(exchange=exchange, routing_key=m.routing_key, mandatory=True),
            channel,
        ),
        pamqp.frame.marshal(ContentHeader(0, len(m.body), properties), channel),
    ]
    for start in range(0, len(m.body), max_body):
        frames.append(pamqp.frame.marshal(ContentBody(m.body[start : start + max_body]), channel))
    return b"".join(frames)


@pytest.mark.parametrize("size", [0, 1, 300, 4096, 10_000])
def test_encoded_frames_equal_pamqps(size: int) -> None:
    message = OutgoingMessage("4a1f6c0e-7a2b-4c55-9d0e-1b2c3d4e5f60", "store.scraped", b"x" * size)
    max_body = 4088  # bodies of 10,000 bytes span three frames
    ours = encode_publish(7, "splitcart.events", message, max_body=max_body)
    assert ours == _pamqp_publish(7, "splitcart.events", message, max_body)


def test_a_name_longer_than_an_amqp_short_string_is_refused() -> None:
    message = OutgoingMessage("x" * 256, "store.scraped", b"{}")
    with pytest.raises(ValueError, match="255 bytes"):
        encode_publish(1, "splitcart.events", message, max_body=4088)


@dataclass
class Scratch:
    """A private exchange with one queue bound to ``bound.#``, and a bus publishing to it."""

    conn: aio_pika.abc.AbstractConnection
    name: str
    bus: RabbitBus

    async def queue(self) -> aio_pika.abc.AbstractQueue:
        return await (await self.conn.channel()).get_queue(self.name)


@pytest_asyncio.fixture
async def scratch(amqp_url: str) -> AsyncIterator[Scratch]:
    name = testing.unique_name("frames")
    conn = await aio_pika.connect(amqp_url)
    async with conn:
        channel = await conn.channel()
        exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(name, durable=True)
        await queue.bind(exchange, routing_key="bound.#")
        bus = RabbitBus(amqp_url, name, queue_prefix=name)
        await bus.start()
        try:
            yield Scratch(conn, name, bus)
        finally:
            await bus.close()
            channel = await conn.channel()
            await channel.queue_delete(name)
            await channel.exchange_delete(name)
            await channel.exchange_delete(f"{name}.dead")


async def test_a_batch_is_confirmed_and_arrives_whole_in_order(scratch: Scratch) -> None:
    # Bodies from empty to several frames (frame_max is 128 KiB by default), and more
    # than one write's worth of bytes in all.
    sizes = [0, 10, 5_000, 300_000, 2_000_000, 17]
    messages = [
        RawEvent(f"id-{i}", f"bound.kind{i % 3}", bytes([i % 251]) * size)
        for i, size in enumerate(sizes)
    ]
    assert await scratch.bus.publish_raw(messages) == [None] * len(messages)
    # The channel's own numbering goes on from where the batch left it.
    assert await scratch.bus.publish_raw([RawEvent("after", "bound.after", b"{}")]) == [None]
    queue = await scratch.queue()
    seen = []
    for _ in range(len(messages) + 1):
        got = await queue.get(timeout=5)
        await got.ack()
        seen.append(got)
    assert [m.message_id for m in seen] == [m.event_id for m in messages] + ["after"]
    for got, sent in zip(seen, messages, strict=False):
        assert got.body == sent.body
        assert got.routing_key == sent.event_type
        assert got.type == sent.event_type
        assert got.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert got.content_type == "application/json"


async def test_unroutable_messages_fail_alone_within_a_batch(scratch: Scratch) -> None:
    keys = ["bound.a", "nobody.listens", "bound.b", "nobody.either", "bound.c"]
    results = await scratch.bus.publish_raw(
        [RawEvent(f"m{i}", key, b"{}") for i, key in enumerate(keys)]
    )
    assert [type(r).__name__ if r else None for r in results] == [
        None,
        "Unroutable",
        None,
        "Unroutable",
        None,
    ]
    assert isinstance(results[1], Unroutable)
    assert (await (await scratch.queue()).declare()).message_count == 3


async def test_a_bad_name_sends_nothing_and_keeps_the_numbering(scratch: Scratch) -> None:
    bus = scratch.bus
    assert bus._pub_channel is not None
    channel = cast(aiormq.Channel, await bus._pub_channel.get_underlay_channel())
    before = channel.delivery_tag
    with pytest.raises(ValueError):
        await publish_batch(
            channel,
            scratch.name,
            [
                OutgoingMessage("fine", "bound.a", b"{}"),
                OutgoingMessage("y" * 300, "bound.a", b"{}"),
            ],
        )
    assert channel.delivery_tag == before
    assert not channel.confirmations
    assert await bus.publish_raw([RawEvent("next", "bound.a", b"{}")]) == [None]
    queue = await scratch.queue()
    got = await queue.get(timeout=5)
    assert got.message_id == "next"
    await got.ack()
    await asyncio.sleep(0)
    assert (await queue.declare()).message_count == 0
