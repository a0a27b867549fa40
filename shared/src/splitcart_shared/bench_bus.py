"""``splitcart bench bus``: outbox commit → relay → RabbitMQ → a consumer's committed handler.

Runs against real Postgres and RabbitMQ (a scratch database and a private exchange), and
prints one JSON object: events/s and end-to-end latency percentiles for 20,000 small events,
and the same under ``catalogue`` for 200 catalogue-sized ``store.scraped`` events.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
import typer

from splitcart_shared import testing
from splitcart_shared.bus import RabbitBus, RetryPolicy, Subscription
from splitcart_shared.db import Database, naming_metadata
from splitcart_shared.events import (
    CompressedProducts,
    Envelope,
    NormalisedProduct,
    Payload,
    StoreRescrapeRequested,
    StoreScraped,
)
from splitcart_shared.outbox import Outbox, messaging_tables
from splitcart_shared.relay import OutboxRelay

# Private tables in the scratch database: the bench must not depend on any service's schema.
_META = naming_metadata()
PRODUCER = messaging_tables(_META, "catalog")
_CONSUMER_META = naming_metadata()
CONSUMER = messaging_tables(_CONSUMER_META, "grouping")


def catalogue_payload(products: int = 24_000) -> StoreScraped:
    rng = random.Random(7)
    rows = [
        NormalisedProduct(
            sku=str(100000 + i),
            name=f"Product {i} {rng.choice(['Milk', 'Bread', 'Rice', 'Tea'])}",
            brand=rng.choice(["Acme", "Bush", "Coast", None]),
            size=f"{rng.choice([100, 250, 500, 1000])}g",
            barcode=str(9300000000000 + i),
            category_path=["Pantry", "Breakfast", "Cereal"],
            price_cents=rng.randrange(100, 3000),
            unit_price_cents=rng.randrange(10, 900),
            unit_measure="100g",
        )
        for i in range(products)
    ]
    return StoreScraped(
        company="woolworths",
        requested_store_id="1275",
        served_store_id="1275",
        scraped_at=datetime(2026, 1, 5, tzinfo=UTC),
        kind="full",
        products=CompressedProducts.pack(rows),
    )


async def _consume(url: str, amqp_url: str, prefix: str, count: int) -> dict[str, float]:
    """The consumer side (its own process, like a consuming service): wall-clock time at
    which each event's handler transaction had committed."""
    db = Database(url, pool_size=10)
    bus = RabbitBus(
        amqp_url, f"{prefix}.events", prefetch=500, retry=RetryPolicy(), queue_prefix=prefix
    )
    handled: dict[str, float] = {}
    done = asyncio.Event()

    async def handler(session: Any, payload: Payload, envelope: Envelope) -> None:
        return None

    def on_handled(envelope: Envelope) -> None:
        handled[str(envelope.event_id)] = time.time()
        if len(handled) >= count:
            done.set()

    await bus.subscribe(
        Subscription("benchbus", ["#"], handler, db, CONSUMER, after_commit=[on_handled])
    )
    print("ready", flush=True)
    try:
        await asyncio.wait_for(done.wait(), timeout=900)
    finally:
        await bus.close()
        await db.dispose()
    return handled


async def _run(amqp_url: str, count: int, payload_of: Any, batch: int) -> dict[str, float]:
    name = testing.unique_name("splitcart_bench_bus_")
    url = await testing.create_pg_database(name)
    db = Database(url, pool_size=20)
    prefix = testing.unique_name("benchbus")
    bus = RabbitBus(amqp_url, f"{prefix}.events", queue_prefix=prefix)
    committed: dict[str, float] = {}
    consumer: asyncio.subprocess.Process | None = None
    try:
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql("CREATE SCHEMA catalog")
            await conn.exec_driver_sql("CREATE SCHEMA grouping")
            await conn.run_sync(_META.create_all)
            await conn.run_sync(_CONSUMER_META.create_all)
        consumer = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "splitcart_shared.bench_bus",
            url,
            amqp_url,
            prefix,
            str(count),
            stdout=asyncio.subprocess.PIPE,
        )
        assert consumer.stdout is not None
        await consumer.stdout.readline()  # "ready": queue declared and bound
        relay = OutboxRelay(db, PRODUCER, bus, service="bench", batch=500, idle_seconds=0.01)
        relay.start()
        outbox = Outbox(PRODUCER, producer="bench")
        start = time.time()
        for offset in range(0, count, batch):
            n = min(batch, count - offset)
            async with db.transaction() as session:
                envelopes = await outbox.add_many(
                    session, [payload_of(offset + i) for i in range(n)]
                )
            now = time.time()
            committed.update((str(e.event_id), now) for e in envelopes)
            relay.kick()
        output, _ = await consumer.communicate()
        handled: dict[str, float] = json.loads(output)
        await relay.stop()
    finally:
        if consumer is not None and consumer.returncode is None:
            consumer.kill()
        await bus.close()
        await db.dispose()
        await testing.drop_pg_database(name)
        await _delete(amqp_url, prefix)
    if len(handled) < count:
        raise RuntimeError(f"only {len(handled)} of {count} events were handled")
    elapsed = max(handled.values()) - start
    latencies = np.array([handled[k] - committed[k] for k in committed]) * 1000
    return {
        "events": count,
        "events_per_second": round(count / elapsed, 1),
        "p50_ms": round(float(np.percentile(latencies, 50)), 2),
        "p99_ms": round(float(np.percentile(latencies, 99)), 2),
    }


async def _delete(amqp_url: str, prefix: str) -> None:
    import aio_pika

    conn = await aio_pika.connect(amqp_url)
    async with conn:
        channel = await conn.channel()
        await channel.queue_delete(f"{prefix}.benchbus")
        await channel.queue_delete(f"{prefix}.benchbus.dead")
        await channel.exchange_delete(f"{prefix}.events")
        await channel.exchange_delete(f"{prefix}.dead")


async def run_bench(
    small: int = 20_000, catalogues: int = 200, amqp_url: str | None = None
) -> dict[str, Any]:
    amqp = amqp_url or testing.AMQP_URL
    small_result = await _run(
        amqp,
        small,
        lambda i: StoreRescrapeRequested(company="aldi", store_id=f"G{i}", reason="manual"),
        100,
    )
    if not catalogues:
        return small_result
    big = catalogue_payload()
    catalogue_result = await _run(amqp, catalogues, lambda i: big, 5)
    catalogue_result["compressed_bytes"] = len(big.products.data)
    return {**small_result, "catalogue": catalogue_result}


def _consumer_main() -> None:
    url, amqp_url, prefix, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    handled = asyncio.run(_consume(url, amqp_url, prefix, count))
    sys.stdout.write(json.dumps(handled))


def bench(
    small: int = typer.Option(20_000, help="small events"),
    catalogues: int = typer.Option(200, help="catalogue-sized store.scraped events"),
) -> None:
    """Outbox → RabbitMQ → consumer throughput and latency (Postgres + RabbitMQ)."""
    print(json.dumps(asyncio.run(run_bench(small, catalogues))))


if __name__ == "__main__":
    _consumer_main()
