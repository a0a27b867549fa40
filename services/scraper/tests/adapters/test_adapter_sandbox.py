"""The adapters against the offline sandbox, in process: discovery and full scrapes must
reproduce the sandbox's ground truth exactly, and every fault must be survived or reported
as the right failure."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from splitcart_scraper.adapters import (
    BlockedError,
    NetworkOutageError,
    RetailerUnavailableError,
    ScraperRetailerSettings,
    SessionRequiredError,
    StoreTarget,
    StoreUnavailableError,
    get_adapter,
)
from splitcart_scraper.adapters.base import (
    CatalogueAdapter,
    ScrapeResult,
    spot_bucket_count,
    spot_sample,
)
from splitcart_scraper.adapters.coles import ColesAdapter
from splitcart_scraper.adapters.settings import RetryPolicy
from splitcart_scraper.sandbox import FaultConfig, Knob, World, create_app
from splitcart_shared.clock import SimulatedClock, clock, use_clock
from splitcart_shared.events import Company, NormalisedProduct

BASE = "http://sandbox.test"
COMPANIES: tuple[Company, ...] = ("woolworths", "coles", "aldi", "iga")
LOGGED_IN = '{"w-auth": "imported-session"}'
INCAPSULA = "visid_incap_2800108=abc; incap_ses_1234_2800108=def"


class NetworkTransport(httpx.AsyncBaseTransport):
    """The sandbox in process, failing the way a socket does: a connection the server
    drops mid-response reaches the client as a read error, not a Python exception."""

    def __init__(self, app: Any) -> None:
        self.inner = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self.inner.handle_async_request(request)
        except ConnectionError as exc:
            raise httpx.ReadError(str(exc), request=request) from exc


async def no_sleep(_: float) -> None:
    return None


@pytest.fixture(scope="module")
def world() -> World:
    return World(7, 0.05, 0.05)


def settings(**overrides: Any) -> ScraperRetailerSettings:
    values: dict[str, Any] = {
        "coles_base_url": f"{BASE}/coles",
        "woolworths_base_url": f"{BASE}/woolworths",
        "aldi_base_url": f"{BASE}/aldi",
        "iga_base_url": f"{BASE}/iga",
        "iga_locator_url": f"{BASE}/iga-locator",
        "coles_rps": 0,
        "woolworths_rps": 0,
        "aldi_rps": 0,
        "iga_rps": 0,
        "woolworths_session_cookies": LOGGED_IN,
        "coles_cookie_jar": INCAPSULA,
        "retry": RetryPolicy(max_attempts=6, backoff_base=0.0001, backoff_cap=0.001),
    }
    values.update(overrides)
    return ScraperRetailerSettings(**values)


class Sandbox:
    """One sandbox app plus adapters and an admin client talking to it."""

    def __init__(self, world: World, faults: FaultConfig | None = None) -> None:
        self.app = create_app(7, 0.05, 0.05, faults=faults, world=world)
        self.transport = NetworkTransport(self.app)
        self.admin = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=BASE)
        self.adapters: list[CatalogueAdapter] = []

    def adapter(self, company: Company, **overrides: Any) -> CatalogueAdapter:
        made = get_adapter(company, settings(**overrides), transport=self.transport, sleep=no_sleep)
        self.adapters.append(made)
        return made

    async def stores(self, company: Company) -> list[dict[str, Any]]:
        response = await self.admin.get("/admin/stores", params={"chain": company})
        return [s for s in response.json()["stores"] if s["open"]]

    async def target(self, company: Company, index: int = 0) -> StoreTarget:
        stores = [s for s in await self.stores(company) if s["scrapable"]]
        store = stores[index]
        return StoreTarget(company, store["store_id"], store.get("retailer_store_id"))

    async def truth(self, company: Company, store_id: str) -> dict[str, tuple[Any, ...]]:
        path = f"/admin/truth/{company}/{store_id}"
        rows = (await self.admin.get(path, params={"format": "json"})).json()["rows"]
        return {
            r["sku"]: (r["price_cents"], r["was_price_cents"], r["on_special"], r["available"])
            for r in rows
            if r["listed"]
        }

    async def set_faults(self, **knobs: Any) -> None:
        response = await self.admin.put("/admin/faults", json=knobs)
        assert response.status_code == 200, response.text

    async def close(self) -> None:
        for made in self.adapters:
            await made.aclose()
        await self.admin.aclose()


@pytest.fixture
async def sandbox(world: World) -> AsyncIterator[Sandbox]:
    made = Sandbox(world)
    yield made
    await made.close()


def observed(result: ScrapeResult) -> dict[str, tuple[Any, ...]]:
    return {
        p["sku"]: (p["price_cents"], p["was_price_cents"], p["on_special"], p["available"])
        for p in result.products
    }


def expected_view(
    company: Company, truth: dict[str, tuple[Any, ...]]
) -> dict[str, tuple[Any, ...]]:
    """What the chain lets a scraper see: Woolworths hides the price (and so any special)
    of an unavailable product."""
    if company != "woolworths":
        return truth
    return {sku: row if row[3] else (None, None, False, False) for sku, row in truth.items()}


@pytest.mark.parametrize("company", COMPANIES)
async def test_discovery_finds_exactly_the_open_stores(sandbox: Sandbox, company: Company) -> None:
    discovery = await sandbox.adapter(company).discover_stores()
    truth = await sandbox.stores(company)
    assert {s.store_id for s in discovery.stores} == {s["store_id"] for s in truth}
    assert discovery.complete
    by_id = {s["store_id"]: s for s in truth}
    for record in discovery.stores:
        assert record.state == by_id[record.store_id]["state"]
        if company == "iga":
            assert record.scrapable == bool(by_id[record.store_id]["retailer_store_id"])
    discovery.to_event()  # the payload validates


@pytest.mark.parametrize("company", COMPANIES)
async def test_a_full_scrape_reproduces_the_ground_truth(
    sandbox: Sandbox, company: Company
) -> None:
    target = await sandbox.target(company, 1)
    result = await sandbox.adapter(company).scrape(target, "full")
    truth = await sandbox.truth(company, target.store_id)
    assert result.complete, result.incomplete_reason
    assert result.served_store_id == target.store_id
    assert not result.served_store_mismatch
    assert observed(result) == expected_view(company, truth)
    assert result.expected_count == len(result.products)
    assert result.requests_made > 0
    event = result.to_event("lease-1")
    assert [NormalisedProduct.model_validate(r) for r in event.products.raw_rows()]


async def test_an_anonymous_woolworths_session_is_served_the_default_store(
    sandbox: Sandbox,
) -> None:
    target = await sandbox.target("woolworths", 3)
    adapter = sandbox.adapter("woolworths", woolworths_session_cookies=None)
    result = await adapter.scrape(target, "full")
    assert result.served_store_id != target.store_id
    assert result.served_store_mismatch
    assert result.products == []  # never relabelled as the requested store's prices
    assert not result.complete


async def test_coles_without_the_imported_cookies_is_blocked(sandbox: Sandbox) -> None:
    adapter = sandbox.adapter("coles", coles_cookie_jar=None)
    with pytest.raises(BlockedError):
        await adapter.scrape(await sandbox.target("coles"), "full")


async def test_coles_barcodes_come_from_the_product_page(sandbox: Sandbox, world: World) -> None:
    adapter = sandbox.adapter("coles")
    assert isinstance(adapter, ColesAdapter)
    catalogue = world.chains["coles"].catalogue
    sku = str(int(catalogue.sku[5]))
    assert await adapter.fetch_barcode(sku) == f"{int(catalogue.barcode[5]):013d}"
    assert await adapter.fetch_barcode("no-such-product-1") is None


@pytest.mark.parametrize("company", COMPANIES)
async def test_spot_checks_rotate_through_every_category(
    sandbox: Sandbox, company: Company
) -> None:
    adapter = sandbox.adapter(company)
    target = await sandbox.target(company)
    full = await adapter.scrape(target, "full")
    seen: set[str] = set()
    spot_products: dict[str, tuple[Any, ...]] = {}
    pages = []
    sampled: list[tuple[int, int]] = []
    for rotation in range(10):
        spot = await adapter.scrape(target, "spot", rotation=rotation, spot_min_products=0)
        assert spot.kind == "spot"
        assert spot.complete, spot.incomplete_reason
        seen.update(spot.categories_scraped)
        spot_products.update(observed(spot))
        pages.append(spot.requests_made)
        sampled.append((len(spot.products), len(spot.categories_scraped)))
    assert max(pages) < full.requests_made
    if adapter.spot_pages is None:
        # Ten rotations cover the whole catalogue, each a small share of it.
        assert spot_products == observed(full)
        return
    # Chains without counts sample the full scrape's categories by their first pages: ten
    # rotations visit every category, and what they saw is what the full scrape saw.
    assert seen == set(full.categories_scraped)
    assert spot_products.items() <= observed(full).items()
    assert all(n <= adapter.page_size * k for n, k in sampled)


# IGA responses name no store (the served store is the shop in the path), so the sandbox
# has no mismatch to inject there.
@pytest.mark.parametrize("company", ["woolworths", "coles", "aldi"])
async def test_a_store_served_from_elsewhere_is_reported_not_relabelled(
    world: World, company: Company
) -> None:
    sandbox = Sandbox(world, FaultConfig(knobs={"store_mismatch": Knob(rate=1.0, seed=3)}))
    try:
        target = await sandbox.target(company, 2)
        result = await sandbox.adapter(company).scrape(target, "full")
    finally:
        await sandbox.close()
    assert result.served_store_mismatch
    assert result.served_store_id not in (None, target.store_id)
    assert result.products == []
    assert not result.complete
    assert result.incomplete_reason == "served_store_mismatch"


@pytest.mark.parametrize("company", COMPANIES)
async def test_pages_that_stay_short_make_the_scrape_incomplete(
    world: World, company: Company
) -> None:
    sandbox = Sandbox(world, FaultConfig(knobs={"truncated": Knob(rate=1.0, seed=5)}))
    try:
        target = await sandbox.target(company)
        result = await sandbox.adapter(company).scrape(target, "full")
    finally:
        await sandbox.close()
    assert not result.complete
    assert result.incomplete_reason is not None
    assert "short" in result.incomplete_reason
    assert result.expected_count is not None and len(result.products) < result.expected_count


@pytest.mark.parametrize(
    "knob",
    ["rate_limit", "server_error", "reset", "malformed", "truncated", "store_mismatch", "slow"],
)
@pytest.mark.parametrize("company", COMPANIES)
async def test_occasional_faults_are_survived_exactly(
    world: World, company: Company, knob: str
) -> None:
    faults = FaultConfig(knobs={knob: Knob(rate=0.15, seed=11)}, slow_seconds=0.001)
    sandbox = Sandbox(world, faults)
    try:
        target = await sandbox.target(company, 1)
        result = await sandbox.adapter(company).scrape(target, "full")
        truth = await sandbox.truth(company, target.store_id)
        injected = sandbox.app.state.sandbox.faults.injected[knob]
    finally:
        await sandbox.close()
    assert result.complete, result.incomplete_reason
    assert result.served_store_id == target.store_id
    assert observed(result) == expected_view(company, truth)
    if company != "iga" or knob != "store_mismatch":
        assert injected > 0


async def test_a_retailer_that_keeps_failing_ends_the_scrape_with_a_clear_failure(
    world: World,
) -> None:
    sandbox = Sandbox(world, FaultConfig(knobs={"server_error": Knob(rate=1.0, seed=1)}))
    try:
        adapter = sandbox.adapter("aldi", retry=RetryPolicy(max_attempts=2, backoff_base=0.0001))
        with pytest.raises(RetailerUnavailableError) as caught:
            await adapter.scrape(await sandbox.target("aldi"), "full")
    finally:
        await sandbox.close()
    assert caught.value.status in (500, 502, 503)
    assert caught.value.attempts == 2


async def test_a_network_outage_fails_the_attempt_instead_of_looping() -> None:
    calls = 0

    def refuse(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("connection refused", request=request)

    adapter = get_adapter(
        "aldi",
        settings(retry=RetryPolicy(max_attempts=3, backoff_base=0.0001)),
        transport=httpx.MockTransport(refuse),
        sleep=no_sleep,
    )
    try:
        with pytest.raises(NetworkOutageError):
            await adapter.scrape(StoreTarget("aldi", "G102"), "full")
    finally:
        await adapter.aclose()
    assert calls == 3


async def test_an_expired_woolworths_login_is_reported_as_such(sandbox: Sandbox) -> None:
    adapter = sandbox.adapter("woolworths", woolworths_session_cookies='{"other": "cookie"}')
    with pytest.raises(SessionRequiredError):
        await adapter.scrape(await sandbox.target("woolworths"), "full")


@pytest.mark.parametrize(
    "target",
    [
        StoreTarget("woolworths", "999999"),
        StoreTarget("aldi", "G0"),
        StoreTarget("iga", "1", "000000"),
        StoreTarget("iga", "2", None),
    ],
)
async def test_an_unknown_or_shopless_store_is_reported_as_unavailable(
    sandbox: Sandbox, target: StoreTarget
) -> None:
    with pytest.raises(StoreUnavailableError):
        await sandbox.adapter(target.company).scrape(target, "full")


@pytest.mark.parametrize(
    ("company", "endpoint", "size"), [("woolworths", "browse", 36), ("coles", "browse", 48)]
)
async def test_paging_stops_on_the_retailers_totals_never_past_the_end(
    sandbox: Sandbox, company: Company, endpoint: str, size: int
) -> None:
    adapter = sandbox.adapter(company)
    target = await sandbox.target(company)
    session = await adapter.open_session(target)
    categories = await adapter.categories(session, target, "full")
    await sandbox.admin.post("/admin/counters/reset")
    result = await adapter.scrape(target, "full")
    counters = (await sandbox.admin.get("/admin/counters")).json()
    pages = sum(max(1, math.ceil((c.expected or 0) / size)) for c in categories)
    assert counters["requests"][company][endpoint] == pages
    assert result.complete


async def _tree_requests(sandbox: Sandbox) -> int:
    counters = (await sandbox.admin.get("/admin/counters")).json()
    return int(counters["requests"]["aldi"].get("product-category-tree", 0))


async def test_aldi_asks_for_its_national_tree_once_an_hour_and_again_after_a_refusal(
    sandbox: Sandbox,
) -> None:
    moment = SimulatedClock(datetime(2026, 11, 2, 6, tzinfo=UTC))
    before = clock.target
    use_clock(moment)
    try:
        adapter = sandbox.adapter("aldi")
        first, second = await sandbox.target("aldi", 0), await sandbox.target("aldi", 1)
        await sandbox.admin.post("/admin/counters/reset")
        cold = await adapter.scrape(first, "full")
        warm = await adapter.scrape(second, "full")
        await adapter.scrape(first, "spot", spot_min_products=20)
        moment.advance(timedelta(minutes=59))
        await adapter.scrape(second, "spot", spot_min_products=20)
        assert await _tree_requests(sandbox) == 1
        assert warm.requests_made == cold.requests_made - 1
        # The tree a scrape did not ask for still covers the whole catalogue.
        assert warm.complete
        expected = expected_view("aldi", await sandbox.truth("aldi", second.store_id))
        assert observed(warm) == expected
        moment.advance(timedelta(minutes=2))
        await adapter.scrape(first, "spot", spot_min_products=20)
        assert await _tree_requests(sandbox) == 2
        # A listing that refuses a category's first page (here: a service point Aldi
        # does not know) forgets the tree; the next scrape asks for it again.
        with pytest.raises(StoreUnavailableError):
            await adapter.scrape(StoreTarget("aldi", "G99999"), "full")
        assert await _tree_requests(sandbox) == 2
        await adapter.scrape(first, "spot", spot_min_products=20)
        assert await _tree_requests(sandbox) == 3
    finally:
        use_clock(before)


async def test_aldi_without_a_tree_lifetime_asks_for_it_every_scrape(sandbox: Sandbox) -> None:
    adapter = sandbox.adapter("aldi", aldi_tree_ttl_seconds=0)
    target = await sandbox.target("aldi")
    await sandbox.admin.post("/admin/counters/reset")
    await adapter.scrape(target, "spot", spot_min_products=20)
    await adapter.scrape(target, "spot", spot_min_products=20)
    assert await _tree_requests(sandbox) == 2


async def test_an_aldi_spot_check_widens_into_the_categories_that_fill_its_pages(
    sandbox: Sandbox,
) -> None:
    """Once a full scrape has shown how many products each category lists, a spot check
    that must go on past its own bucket reads the categories whose first page is full
    first, so it reaches its size in fewer requests than taking the buckets in turn."""
    adapter = sandbox.adapter("aldi")
    target = await sandbox.target("aldi")
    full = await adapter.scrape(target, "full")
    listed = Counter(p["category_path"][0] for p in full.products)
    session = await adapter.open_session(target)
    tree = await adapter.categories(session, target, "spot")
    by_key = {c.key: listed[c.name] for c in tree}
    size = adapter.page_size
    for rotation in range(spot_bucket_count(tree, 0.1)):
        spot = await adapter.scrape(target, "spot", rotation=rotation, spot_min_products=60)
        own = {c.key for c in spot_sample(tree, rotation, 0.1)}
        widened = [k for k in spot.categories_scraped if k not in own]
        yields = [min(by_key[k], size) for k in widened]
        assert len(spot.products) >= 60
        # Fullest first, and no category read once the sample was big enough.
        assert yields == sorted(yields, reverse=True)
        before_last = sum(min(by_key[k], size) for k in spot.categories_scraped[:-1])
        assert before_last < 60
