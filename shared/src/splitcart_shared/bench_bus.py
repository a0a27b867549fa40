"""``splitcart bench bus``: outbox commit → relay → RabbitMQ → a consumer's committed handler.

Runs against real Postgres and RabbitMQ (a scratch database and a private exchange per run),
with the relay in this process and the consumer in a process of its own, both on uvloop as
the services run under uvicorn. Each kind of event (20,000 small ones; 200 catalogue-sized
``store.scraped`` ones under ``catalogue``) is measured in two runs:

- a throughput run commits every event at once (concurrent writers, transactions of
  ``batch``) and reports ``events_per_second``: events divided by the time from the first
  commit starting to the last handler commit, i.e. how fast the pipeline drains a backlog.
  Its latencies (``throughput_run``) are mostly time spent queued behind that backlog;
- a latency run commits the events on a clock at a fixed ``offered_rate`` (whatever is due,
  every few milliseconds) and reports ``p50_ms``/``p99_ms``: per event, from its outbox
  commit returning to its handler's transaction having committed. At a rate the pipeline
  sustains this is the latency of the path itself, not of a queue.

The JSON says which figure comes from which run (``definitions``), with the load average.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import typer
import uvloop

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
from splitcart_shared.logging import configure_logging
from splitcart_shared.outbox import Outbox, messaging_tables
from splitcart_shared.relay import OutboxRelay

# Private tables in the scratch database: the bench must not depend on any service's schema.
_META = naming_metadata()
PRODUCER = messaging_tables(_META, "catalog")
_CONSUMER_META = naming_metadata()
CONSUMER = messaging_tables(_CONSUMER_META, "grouping")

DEFINITIONS = {
    "events_per_second": "throughput run: every event committed at once (concurrent writers, "
    "transactions of batch); events / (last handler commit - first outbox commit started)",
    "p50_ms, p99_ms": "latency run: events committed on a clock at offered_rate events/s; per "
    "event, outbox commit returned -> its handler's transaction committed",
    "offered_rate": "events/s the latency run commits",
    "committed_per_second": "events/s the writers of that run actually committed",
}


@dataclass(frozen=True)
class Load:
    """How one run commits its events.

    ``rate`` ``None``: ``writers`` concurrent tasks commit transactions of ``batch`` events
    back to back (a backlog, as fast as the database takes them). Otherwise one writer keeps
    to ``rate`` events/s on a clock: every ``tick`` seconds it commits the events due by then
    (at most ``batch``), so slow commits make transactions bigger, not the rate lower.
    """

    count: int
    batch: int
    rate: float | None = None
    writers: int = 4
    tick: float = 0.01


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


async def _run(amqp_url: str, load: Load, payload_of: Callable[[int], Payload]) -> dict[str, Any]:
    name = testing.unique_name("splitcart_bench_bus_")
    url = await testing.create_pg_database(name)
    db = Database(url, pool_size=20)
    prefix = testing.unique_name("benchbus")
    bus = RabbitBus(amqp_url, f"{prefix}.events", queue_prefix=prefix)
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
            str(load.count),
            stdout=asyncio.subprocess.PIPE,
        )
        assert consumer.stdout is not None
        await consumer.stdout.readline()  # "ready": queue declared and bound
        relay = OutboxRelay(db, PRODUCER, bus, service="bench", batch=500, idle_seconds=0.01)
        relay.start()
        start = time.time()
        committed = await _commit(db, relay, load, payload_of)
        output, _ = await consumer.communicate()
        handled: dict[str, float] = json.loads(output.splitlines()[-1])
        await relay.stop()
    finally:
        if consumer is not None and consumer.returncode is None:
            consumer.kill()
        await bus.close()
        await db.dispose()
        await testing.drop_pg_database(name)
        await _delete(amqp_url, prefix)
    if len(handled) < load.count:
        raise RuntimeError(f"only {len(handled)} of {load.count} events were handled")
    return _figures(load, start, committed, handled)


async def _commit(
    db: Database, relay: OutboxRelay, load: Load, payload_of: Callable[[int], Payload]
) -> dict[str, float]:
    """Commit the events as ``load`` says; when each one's transaction had committed."""
    outbox = Outbox(PRODUCER, producer="bench")
    committed: dict[str, float] = {}
    cursor = 0

    async def commit(n: int) -> None:
        nonlocal cursor
        first, cursor = cursor, cursor + n
        async with db.transaction() as session:
            envelopes = await outbox.add_many(
                session, [payload_of(i) for i in range(first, cursor)]
            )
        now = time.time()
        committed.update((str(e.event_id), now) for e in envelopes)
        relay.kick()

    async def writer() -> None:
        while cursor < load.count:
            await commit(min(load.batch, load.count - cursor))

    if load.rate is None:
        await asyncio.gather(*(writer() for _ in range(load.writers)))
        return committed
    start = time.time()
    while cursor < load.count:
        due = min(load.count, int((time.time() - start) * load.rate) + 1)
        if due > cursor:
            await commit(min(load.batch, due - cursor))
        else:
            await asyncio.sleep(load.tick)
    return committed


def _figures(
    load: Load, start: float, committed: dict[str, float], handled: dict[str, float]
) -> dict[str, Any]:
    elapsed = max(handled.values()) - start
    latencies = np.array([handled[k] - committed[k] for k in committed]) * 1000
    figures: dict[str, Any] = {"events": load.count, "batch": load.batch}
    if load.rate is None:
        figures["writers"] = load.writers
    else:
        figures["offered_rate"] = load.rate
    # What the writers managed, first commit starting to last commit done.
    figures["committed_per_second"] = round(load.count / (max(committed.values()) - start), 1)
    figures["events_per_second"] = round(load.count / elapsed, 1)
    figures["p50_ms"] = round(float(np.percentile(latencies, 50)), 2)
    figures["p99_ms"] = round(float(np.percentile(latencies, 99)), 2)
    return figures


async def _delete(amqp_url: str, prefix: str) -> None:
    import aio_pika

    conn = await aio_pika.connect(amqp_url)
    async with conn:
        channel = await conn.channel()
        await channel.queue_delete(f"{prefix}.benchbus")
        await channel.queue_delete(f"{prefix}.benchbus.dead")
        await channel.exchange_delete(f"{prefix}.events")
        await channel.exchange_delete(f"{prefix}.dead")


async def _measure(
    amqp_url: str, throughput: Load, latency: Load, payload_of: Callable[[int], Payload]
) -> dict[str, Any]:
    """The headline figures of one kind of event, and both runs in full."""
    drained = await _run(amqp_url, throughput, payload_of)
    paced = await _run(amqp_url, latency, payload_of)
    return {
        "events": throughput.count,
        "events_per_second": drained["events_per_second"],
        "p50_ms": paced["p50_ms"],
        "p99_ms": paced["p99_ms"],
        "offered_rate": latency.rate,
        "throughput_run": drained,
        "latency_run": paced,
    }


async def run_bench(
    small: int = 20_000,
    catalogues: int = 200,
    amqp_url: str | None = None,
    *,
    small_rate: float = 2_000,
    catalogue_rate: float = 5,
) -> dict[str, Any]:
    amqp = amqp_url or testing.AMQP_URL
    load_average = [round(x, 2) for x in os.getloadavg()]

    def small_event(i: int) -> Payload:
        return StoreRescrapeRequested(company="aldi", store_id=f"G{i}", reason="manual")

    result = await _measure(
        amqp,
        Load(small, batch=100),
        Load(small, batch=1_000, rate=small_rate),
        small_event,
    )
    if catalogues:
        big = catalogue_payload()
        result["catalogue"] = await _measure(
            amqp,
            Load(catalogues, batch=5),
            Load(catalogues, batch=5, rate=catalogue_rate),
            lambda i: big,
        )
        result["catalogue"]["compressed_bytes"] = len(big.products.data)
    result["load_average"] = load_average
    result["cpus"] = os.cpu_count()
    result["definitions"] = DEFINITIONS
    return result


def _consumer_main() -> None:
    configure_logging("WARNING", json=False)
    url, amqp_url, prefix, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    handled = uvloop.run(_consume(url, amqp_url, prefix, count))
    sys.stdout.write("\n" + json.dumps(handled) + "\n")


def bench(
    small: int = typer.Option(20_000, help="small events"),
    catalogues: int = typer.Option(200, help="catalogue-sized store.scraped events"),
    small_rate: float = typer.Option(2_000, help="small events/s offered in the latency run"),
    catalogue_rate: float = typer.Option(5, help="catalogues/s offered in the latency run"),
) -> None:
    """Outbox → RabbitMQ → consumer throughput and latency (Postgres + RabbitMQ)."""
    configure_logging("WARNING", json=False)
    result = uvloop.run(
        run_bench(small, catalogues, small_rate=small_rate, catalogue_rate=catalogue_rate)
    )
    print(json.dumps(result))


if __name__ == "__main__":
    _consumer_main()
