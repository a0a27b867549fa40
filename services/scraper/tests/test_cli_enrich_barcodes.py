"""``splitcart scraper enrich-barcodes`` against the sandbox and a running ingest service.

A Coles store of the sandbox is discovered and scraped into ingest (listings carry no
barcodes), then enrichment reads the product pages and publishes ``products.enriched``.
Embedded: SQLite, ingest and the command sharing one in-process bus. Distributed: Postgres,
and the command publishing to the RabbitMQ exchange ingest consumes from.
"""

from __future__ import annotations

import asyncio
import io
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aio_pika
import httpx
import pytest
import pytest_asyncio
import uvicorn
from asgi_lifespan import LifespanManager
from rich.console import Console
from splitcart_ingest.app import service as ingest_service
from splitcart_ingest.settings import IngestSettings
from splitcart_scraper.adapters import ColesAdapter, ScraperRetailerSettings, get_adapter
from splitcart_scraper.adapters.base import StoreTarget
from splitcart_scraper.adapters.settings import RetryPolicy
from splitcart_scraper.cli import Enrichment, app, enrich, missing_barcodes, progress_bar
from splitcart_scraper.sandbox import World, create_app
from splitcart_shared import testing
from splitcart_shared.bus import Bus, InProcessBus, RabbitBus
from splitcart_shared.events import Envelope, Payload
from splitcart_shared.runtime import create_service_app
from splitcart_shared.settings import ApiToken
from typer.testing import CliRunner, Result

SEED = 7
SCALE = 0.01
SANDBOX = "http://sandbox.test"
INCAPSULA = "visid_incap_2800108=abc; incap_ses_1234_2800108=def"
TOKEN = "s" * 32


async def no_sleep(_: float) -> None:
    return None


@pytest.fixture(scope="module")
def world() -> World:
    return World(SEED, SCALE, SCALE)


@pytest.fixture(scope="module")
def true_barcodes(world: World) -> dict[str, str]:
    """Every Coles product's GTIN as its product page states it, by SKU."""
    catalogue = world.chains["coles"].catalogue
    return {
        str(int(sku)): f"{int(code):013d}"
        for sku, code in zip(catalogue.sku, catalogue.barcode, strict=True)
    }


class Rig:
    """The sandbox in process, a running ingest service, and the bus the command uses."""

    def __init__(self, world: World, bus: Bus, ingest_app: Any, prefix: str) -> None:
        self.prefix = prefix
        self.ingest_app = ingest_app
        self.sandbox = create_app(SEED, world=world)
        self.sandbox_client = self._client(self.sandbox, SANDBOX)
        self.bus = bus
        self.ingest = self._client(ingest_app, "http://ingest")
        self.adapter = self.coles()

    @staticmethod
    def _client(asgi: Any, base_url: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=asgi)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        return httpx.AsyncClient(transport=transport, base_url=base_url, headers=headers)

    def coles(self, **overrides: Any) -> ColesAdapter:
        values: dict[str, Any] = {
            "coles_base_url": f"{SANDBOX}/coles",
            "coles_rps": 0,
            "coles_cookie_jar": INCAPSULA,
            "retry": RetryPolicy(max_attempts=4, backoff_base=0.0001, backoff_cap=0.001),
        }
        values.update(overrides)
        transport = httpx.ASGITransport(app=self.sandbox)
        adapter = get_adapter(
            "coles", ScraperRetailerSettings(**values), transport=transport, sleep=no_sleep
        )
        assert isinstance(adapter, ColesAdapter)
        return adapter

    async def publish(self, payload: Payload) -> None:
        await self.bus.publish(Envelope.wrap(payload, producer="scraper"))

    async def stock_ingest(self) -> set[str]:
        """Discover Coles and scrape one store into ingest; the SKUs it listed."""
        discovery = await self.adapter.discover_stores()
        await self.publish(discovery.to_event())
        store = sorted(s.store_id for s in discovery.stores if s.store_id.startswith("COL:"))[0]
        await testing.wait_for(lambda: self._knows(store), timeout=60)
        result = await self.adapter.scrape(StoreTarget("coles", store), "full")
        assert result.complete and result.products
        assert all(p["barcode"] is None for p in result.products)
        await self.publish(result.to_event("lease-1"))
        skus = {p["sku"] for p in result.products}
        await testing.wait_for(lambda: self._holds(skus), timeout=60)
        return skus

    async def _knows(self, store: str) -> bool:
        response = await self.ingest.get(f"/v1/stores/by-chain/coles/{store}")
        return response.status_code == 200

    async def _holds(self, skus: set[str]) -> bool:
        return set(await self.missing()) == skus

    async def barcodes(self) -> dict[str, str | None]:
        """Every Coles product ingest holds, with its barcode."""
        found: dict[str, str | None] = {}
        offset = 0
        while offset is not None:
            page = await self.ingest.get(
                "/v1/products", params={"company": "coles", "limit": 1000, "offset": offset}
            )
            body = page.json()
            found.update({p["sku"]: p["barcode"] for p in body["items"]})
            offset = body["next_offset"]
        return found

    async def missing(self) -> list[str]:
        return [p["sku"] for p in await missing_barcodes(self.ingest, "coles")]

    async def settled(self, left: set[str]) -> None:
        """Wait until exactly ``left`` lacks a barcode (ingest consumes asynchronously)."""

        async def done() -> bool:
            return set(await self.missing()) == left

        try:
            await testing.wait_for(done, timeout=60)
        except TimeoutError:
            raise AssertionError(f"still missing: {sorted(await self.missing())[:20]}") from None

    async def product_pages_served(self) -> int:
        counters = (await self.sandbox_client.get("/admin/counters")).json()
        return int(counters["requests"]["coles"].get("product", 0))

    async def faulty(self, **knobs: Any) -> None:
        response = await self.sandbox_client.put("/admin/faults", json=knobs)
        response.raise_for_status()

    async def enrich(self, adapter: ColesAdapter | None = None, **kw: Any) -> Enrichment:
        return await enrich(self.ingest, adapter or self.adapter, self.bus, "coles", **kw)

    async def close(self) -> None:
        await self.adapter.aclose()
        await self.ingest.aclose()
        await self.sandbox_client.aclose()


def ingest_settings(database_url: str, amqp: str | None, prefix: str) -> IngestSettings:
    return IngestSettings(
        database_url=database_url,
        amqp_url=amqp,
        exchange=f"{prefix}.events",
        queue_prefix=prefix,
        api_tokens={"scraper": ApiToken(token=TOKEN)},
        relay_idle_seconds=0.02,
    )


@pytest.fixture
def broker(backend: str, request: pytest.FixtureRequest) -> str | None:
    """RabbitMQ with Postgres (distributed); none with SQLite (embedded)."""
    return str(request.getfixturevalue("amqp_url")) if backend == "postgres" else None


@pytest_asyncio.fixture
async def rig(database_url: str, broker: str | None, world: World) -> AsyncIterator[Rig]:
    prefix = testing.unique_name("enrich")
    settings = ingest_settings(database_url, broker, prefix)
    bus: Bus
    if broker is None:
        bus = InProcessBus()  # embedded: ingest consumes in the publisher's call
        ingest_app = create_service_app(ingest_service, settings, bus=bus)
    else:
        bus = RabbitBus(broker, f"{prefix}.events", queue_prefix=prefix)
        ingest_app = create_service_app(ingest_service, settings)
    async with LifespanManager(ingest_app):
        await bus.start()
        made = Rig(world, bus, ingest_app, prefix)
        try:
            yield made
        finally:
            await made.close()
            await bus.close()
    if broker is not None:
        await _delete_topology(broker, prefix)


async def _delete_topology(amqp_url: str, prefix: str) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        for queue in (f"{prefix}.ingest", f"{prefix}.ingest.dead"):
            await channel.queue_delete(queue)
        await channel.exchange_delete(f"{prefix}.events")
        await channel.exchange_delete(f"{prefix}.dead")


def expected(skus: set[str], truth: dict[str, str]) -> dict[str, str | None]:
    return {sku: truth[sku] for sku in skus}


async def test_enrichment_gives_ingest_every_true_barcode_and_a_rerun_has_nothing_to_do(
    rig: Rig, true_barcodes: dict[str, str]
) -> None:
    skus = await rig.stock_ingest()
    run = await rig.enrich(batch=40)
    assert (run.todo, run.found, run.without, run.failed, run.stopped) == (
        len(skus),
        len(skus),
        0,
        {},
        None,
    )
    await rig.settled(set())
    assert await rig.barcodes() == expected(skus, true_barcodes)

    pages = await rig.product_pages_served()
    again = await rig.enrich()
    assert again.todo == 0 and "nothing to do" in again.summary()
    assert await rig.product_pages_served() == pages  # not one page fetched again


async def test_an_interrupted_run_is_finished_by_the_next_without_fetching_twice(
    rig: Rig, true_barcodes: dict[str, str]
) -> None:
    skus = await rig.stock_ingest()
    first_ten = (await rig.missing())[:10]
    first = await rig.enrich(limit=10, batch=3)
    assert (first.todo, first.found) == (10, 10)
    await rig.settled(skus - set(first_ten))
    done = await rig.barcodes()
    assert {sku: done[sku] for sku in first_ten} == expected(set(first_ten), true_barcodes)

    pages = await rig.product_pages_served()
    rest = await rig.enrich()
    assert (rest.todo, rest.found) == (len(skus) - 10, len(skus) - 10)
    assert await rig.product_pages_served() - pages == len(skus) - 10
    await rig.settled(set())
    assert await rig.barcodes() == expected(skus, true_barcodes)


async def test_a_run_cut_short_publishes_what_it_read_and_the_next_does_the_rest(
    rig: Rig, true_barcodes: dict[str, str]
) -> None:
    skus = await rig.stock_ingest()
    await rig.faulty(slow={"rate": 1, "seed": 1, "chains": ["coles"]}, slow_seconds=0.01)
    running = asyncio.create_task(rig.enrich(batch=1000))  # nothing published before the end

    async def some_pages_read() -> bool:
        return await rig.product_pages_served() >= 20

    await testing.wait_for(some_pages_read)
    running.cancel()  # what Ctrl-C does to the command's task
    with pytest.raises(asyncio.CancelledError):
        await running

    async def published() -> list[str]:
        held = await rig.barcodes()
        return [sku for sku, code in held.items() if code is not None]

    done = await testing.wait_for(published)
    assert len(done) >= 19 and len(done) < len(skus)
    await rig.faulty(slow={"rate": 0})
    rest = await rig.enrich()
    assert rest.todo == len(skus) - len(done) and rest.found == rest.todo
    await rig.settled(set())
    assert await rig.barcodes() == expected(skus, true_barcodes)


async def test_a_failing_product_page_stays_on_the_list_and_the_others_are_enriched(
    rig: Rig, true_barcodes: dict[str, str]
) -> None:
    skus = await rig.stock_ingest()
    adapter = rig.coles(retry=RetryPolicy(max_attempts=1, backoff_base=0, backoff_cap=0))
    try:
        await adapter.fetch_barcode("no-such-product-1")  # reads the build id before faults
        await rig.faulty(server_error={"rate": 0.2, "seed": 5, "chains": ["coles"]})
        run = await rig.enrich(adapter, batch=7)
    finally:
        await rig.faulty(server_error={"rate": 0})
        await adapter.aclose()
    assert run.stopped is None and run.failed
    assert set(run.failed) < skus and run.found == len(skus) - len(run.failed)
    assert all("HTTP 5" in error for error in run.failed.values())
    assert "run again" in run.summary()
    await rig.settled(set(run.failed))
    held = await rig.barcodes()
    assert {sku: held[sku] for sku in skus - set(run.failed)} == expected(
        skus - set(run.failed), true_barcodes
    )

    retry = await rig.enrich()
    assert (retry.todo, retry.found, retry.failed) == (len(run.failed), len(run.failed), {})
    await rig.settled(set())
    assert await rig.barcodes() == expected(skus, true_barcodes)


async def test_a_blocked_site_stops_the_run_and_leaves_every_product_to_do(rig: Rig) -> None:
    skus = await rig.stock_ingest()
    blocked = rig.coles(coles_cookie_jar=None)
    try:
        run = await rig.enrich(blocked)
    finally:
        await blocked.aclose()
    assert run.found == 0 and run.stopped is not None
    assert "blocked" in run.stopped and "SPLITCART_COLES_COOKIE_JAR" in run.stopped
    assert set(await rig.missing()) == skus


async def test_the_progress_bar_shows_products_done_and_barcodes_found(rig: Rig) -> None:
    skus = await rig.stock_ingest()
    screen = io.StringIO()
    console = Console(file=screen, width=150, force_terminal=False)
    with progress_bar(console) as progress:
        await rig.enrich(progress=progress)
    last = screen.getvalue().strip().splitlines()[-1]
    n = len(skus)
    assert re.search(rf"coles barcodes .* {n}/{n} · {n} found, 0 failed", last), last


# --- the command line -------------------------------------------------------------------

runner = CliRunner()


@asynccontextmanager
async def serving(asgi: Any) -> AsyncIterator[str]:
    """Serve an app (already started) over real HTTP on a free loopback port."""
    config = uvicorn.Config(asgi, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        return server.started

    await testing.wait_for(started)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.mark.parametrize("backend", ["postgres"])  # the command publishes to RabbitMQ
async def test_the_command_enriches_a_running_ingest_and_shows_its_progress(
    rig: Rig, broker: str, true_barcodes: dict[str, str]
) -> None:
    skus = await rig.stock_ingest()
    first_thirty = (await rig.missing())[:30]
    command = ["enrich-barcodes", "--company", "coles", "--batch", "25"]
    async with serving(rig.sandbox) as sandbox, serving(rig.ingest_app) as ingest:
        env = {
            "SPLITCART_AMQP_URL": broker,
            "SPLITCART_EXCHANGE": f"{rig.prefix}.events",
            "SPLITCART_INGEST_URL": ingest,
            "SPLITCART_SERVICE_TOKEN": TOKEN,
            "SPLITCART_COLES_BASE_URL": f"{sandbox}/coles",
            "SPLITCART_COLES_COOKIE_JAR": INCAPSULA,
            "SPLITCART_COLES_RPS": "0",
        }

        def invoke(*extra: str) -> Result:
            return runner.invoke(app, [*command, *extra], env=env)

        first = await asyncio.to_thread(invoke, "--limit", "30")
        assert first.exit_code == 0, first.output
        assert "30/30" in first.stderr and "30 found, 0 failed" in first.stderr
        assert "coles: 30 barcodes published for 30 products" in first.stdout
        await rig.settled(skus - set(first_thirty))

        rest = await asyncio.to_thread(invoke)
        assert rest.exit_code == 0, rest.output
        n = len(skus) - 30
        assert f"coles: {n} barcodes published for {n} products" in rest.stdout
        await rig.settled(set())

        done = await asyncio.to_thread(invoke)
        assert done.exit_code == 0 and "nothing to do" in done.stdout
    assert await rig.barcodes() == expected(skus, true_barcodes)


def words(text: str) -> str:
    """The message without the error panel's frame and line breaks."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def test_another_company_is_refused_with_what_to_do() -> None:
    result = runner.invoke(app, ["enrich-barcodes", "--company", "woolworths"])
    assert result.exit_code == 2
    assert "use --company coles" in words(result.output)


def test_embedded_mode_is_refused_naming_the_setting() -> None:
    result = runner.invoke(app, ["enrich-barcodes"], env={"SPLITCART_AMQP_URL": None})
    assert result.exit_code == 2
    assert "set SPLITCART_AMQP_URL" in words(result.output)


def test_an_unreachable_ingest_is_named_and_fails_the_command() -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    env = {
        "SPLITCART_AMQP_URL": "amqp://guest:guest@127.0.0.1:1/",  # never reached first
        "SPLITCART_INGEST_URL": f"http://127.0.0.1:{port}/ingest",
    }
    result = runner.invoke(app, ["enrich-barcodes"], env=env)
    assert result.exit_code == 1, result.output
    message = words(result.output)
    assert f"cannot reach ingest at http://127.0.0.1:{port}/ingest/v1/products" in message
    assert "SPLITCART_INGEST_URL" in message
