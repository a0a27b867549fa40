"""The adapter protocol, its result types and the paging engine every chain shares.

A chain adapter supplies four things: its category tree, one listing page, its store
locator and (per store) a session. Everything else — which categories a full scrape or a
spot check pages, stopping on the retailer's own totals, de-duplication by SKU, the
served-store check and the truncation verdict — lives here, once.
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import httpx
import structlog
from splitcart_shared.clock import clock
from splitcart_shared.events import (
    PRODUCT_FIELDS as PRODUCT_FIELDS,  # re-exported: the fields, in order, every parser emits
)
from splitcart_shared.events import (
    Company,
    CompressedProducts,
    ScrapeKind,
    StoreRecord,
    StoreScraped,
    StoresDiscovered,
)

from .errors import (
    BlockedError,
    MalformedBodyError,
    RetailerUnavailableError,
    UnexpectedStatusError,
)
from .fields import decode_json
from .http import RetailerHttp, RetailerSession

log = structlog.get_logger()

Product = dict[str, Any]
"""A normalised product as a plain dict with exactly the fields of NormalisedProduct."""


# A full scrape that collected fewer rows than this share of the retailer's own totals is
# reported truncated (complete=False); ingest then refuses to delist from it.
COMPLETENESS_THRESHOLD = 0.98
DEFAULT_SPOT_FRACTION = 0.1
# A health check needs enough shared products to decide (SPEC ``min_shared``, 100): a spot
# check whose bucket holds fewer products than this goes on into the next buckets.
DEFAULT_SPOT_MIN_PRODUCTS = 150
# A page that comes back short, from another store or not as JSON is asked for again this
# many times in all: such faults are usually transient, and a retry beats a lost scrape.
PAGE_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class StoreTarget:
    """The store a lease names: chain store id, plus IGA's online-shop id."""

    company: Company
    store_id: str
    retailer_store_id: str | None = None


@dataclass(slots=True)
class ParsedPage:
    """One listing response, parsed."""

    products: list[Product]
    total: int
    served_store_id: str | None
    dropped: dict[str, int] = field(default_factory=dict)
    # Rows that count toward ``total`` (kept products plus any the retailer counts but we
    # drop, e.g. Woolworths marketplace items); -1 means "the kept products".
    counted: int = -1

    @property
    def counted_rows(self) -> int:
        return len(self.products) if self.counted < 0 else self.counted


@dataclass(frozen=True, slots=True)
class Category:
    """A listing the adapter can page. ``key`` is what the retailer's API wants."""

    key: str
    name: str
    expected: int | None = None  # the tree's own product count, when it gives one


@dataclass(frozen=True, slots=True)
class ScrapeProgress:
    company: Company
    store_id: str
    category: str
    page: int
    pages: int
    categories_done: int
    categories_total: int
    products: int
    requests_made: int


ProgressCallback = Callable[[ScrapeProgress], Awaitable[None] | None]


@dataclass(slots=True)
class ScrapeResult:
    """What one catalogue scrape or spot check found, ready for ``store.scraped``."""

    company: Company
    kind: ScrapeKind
    requested_store_id: str
    served_store_id: str | None
    products: list[Product]
    # What the retailer's own totals promise, de-duplicated (see _Tally.expected_products):
    # len(products) falls short of it only by what the scrape failed to collect.
    expected_count: int | None
    complete: bool
    requests_made: int
    categories_scraped: list[str]
    scraped_at: datetime
    incomplete_reason: str | None = None
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def served_store_mismatch(self) -> bool:
        """True when the retailer served another store: these prices are not the
        requested store's and must never be presented as such."""
        return self.served_store_id is not None and self.served_store_id != self.requested_store_id

    def to_event(self, lease_token: str | None = None) -> StoreScraped:
        return StoreScraped(
            company=self.company,
            lease_token=lease_token,
            requested_store_id=self.requested_store_id,
            served_store_id=self.served_store_id,
            scraped_at=self.scraped_at,
            kind=self.kind,
            expected_count=self.expected_count,
            categories_scraped=self.categories_scraped,
            complete=self.complete,
            requests_made=self.requests_made,
            products=CompressedProducts.pack(self.products),
        )


@dataclass(slots=True)
class StoreDiscovery:
    """A store-locator sweep of one company."""

    company: Company
    stores: list[StoreRecord]
    divisions: list[str]
    complete: bool
    requests_made: int
    swept_at: datetime

    def to_event(self) -> StoresDiscovered:
        return StoresDiscovered(
            company=self.company, swept_at=self.swept_at, complete=self.complete, stores=self.stores
        )


class RetailerAdapter(Protocol):
    """What the scraper worker calls. ``get_adapter(company)`` returns one."""

    company: Company

    async def discover_stores(self) -> StoreDiscovery: ...

    async def scrape(
        self,
        store: StoreTarget,
        kind: ScrapeKind = "full",
        *,
        rotation: int = 0,
        spot_fraction: float = DEFAULT_SPOT_FRACTION,
        spot_min_products: int = DEFAULT_SPOT_MIN_PRODUCTS,
        on_progress: ProgressCallback | None = None,
    ) -> ScrapeResult: ...

    async def aclose(self) -> None: ...


def spot_sample(categories: Sequence[Category], rotation: int, fraction: float) -> list[Category]:
    """The categories a spot check pages: one of ``round(1/fraction)`` fixed buckets of
    roughly equal page counts, the bucket chosen by ``rotation``. Successive rotations
    cycle through every bucket, so every category is checked within a cycle."""
    if not categories:
        return []
    buckets = spot_bucket_count(categories, fraction)
    loads = [0] * buckets
    members: list[list[Category]] = [[] for _ in range(buckets)]
    # Largest first into the lightest bucket: balanced and independent of input order.
    for category in sorted(categories, key=lambda c: (-_pages_hint(c), c.key)):
        target = loads.index(min(loads))
        loads[target] += _pages_hint(category)
        members[target].append(category)
    chosen = members[rotation % buckets]
    return sorted(chosen, key=lambda c: c.key)


def spot_bucket_count(categories: Sequence[Category], fraction: float) -> int:
    """How many buckets :func:`spot_sample` cycles through."""
    if not categories:
        return 0
    return max(1, min(len(categories), round(1 / fraction) if fraction > 0 else 1))


def _pages_hint(category: Category) -> int:
    # A relative weight only, so one page size for every chain is good enough.
    return max(1, math.ceil((category.expected or 1) / 36))


def expect_json(chain: str, response: httpx.Response, what: str) -> Any:
    """The decoded JSON body of a successful response, or the specific failure."""
    if response.status_code in (200, 403) and "html" in response.headers.get("content-type", ""):
        # Bot walls (Imperva, Akamai) answer JSON endpoints with an HTML page.
        detail = f"HTML (HTTP {response.status_code}) instead of {what}"
        raise BlockedError(chain, str(response.request.url), detail)
    if response.status_code != 200:
        raise UnexpectedStatusError(chain, str(response.request.url), response.status_code)
    return decode_json(chain, response.content, what)


async def fetch_json(
    session: RetailerSession,
    method: str,
    path: str,
    what: str,
    *,
    accept_status: frozenset[int] = frozenset(),
    **kwargs: Any,
) -> tuple[Any, httpx.Response]:
    """Request and decode JSON; a body that is not JSON at all (cut short, garbled) is
    asked for again, a few times, before it counts as a shape error. A status in
    ``accept_status`` is handed back undecoded (None) for the adapter to interpret."""
    for attempt in range(1, PAGE_ATTEMPTS + 1):
        response = await session.request(method, path, **kwargs)
        if response.status_code in accept_status:
            return None, response
        try:
            return expect_json(session.http.chain, response, what), response
        except MalformedBodyError:
            if attempt == PAGE_ATTEMPTS:
                raise
            log.warning("scrape.malformed_body", company=session.http.chain, what=what)
    raise AssertionError("unreachable")


@dataclass(slots=True)
class _Tally:
    """Running state of one scrape."""

    products: dict[str, Product] = field(default_factory=dict)
    rows: int = 0  # rows that count toward the retailer's totals
    expected: int = 0
    served: str | None = None
    mismatch: bool = False
    failure: str | None = None
    short_pages: list[str] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    categories: list[str] = field(default_factory=list)

    def add(self, page: ParsedPage) -> None:
        self.rows += page.counted_rows
        for product in page.products:
            self.products.setdefault(product["sku"], product)
        for reason, count in page.dropped.items():
            self.dropped[reason] = self.dropped.get(reason, 0) + count

    @property
    def expected_products(self) -> int:
        """The de-duplicated expectation: the distinct products kept, plus the rows the
        totals promised but never came. Marketplace rows and duplicates across
        categories are in the totals but not in the products, so they are left out."""
        return len(self.products) + max(0, self.expected - self.rows)

    @property
    def stopped(self) -> bool:
        return self.mismatch or self.failure is not None


class CatalogueAdapter(ABC):
    """Shared paging engine; a chain implements the abstract methods."""

    company: Company
    page_size: int
    # Pages a spot check reads of each category it samples (None: all of them). Chains whose
    # trees give no counts sample their full-scrape categories by their first pages.
    spot_pages: int | None = None

    def __init__(self, http: RetailerHttp) -> None:
        self.http = http

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> CatalogueAdapter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- what a chain supplies -----------------------------------------------------

    @abstractmethod
    async def discover_stores(self) -> StoreDiscovery: ...

    @abstractmethod
    async def open_session(self, store: StoreTarget) -> RetailerSession:
        """A session set up to be served ``store`` (cookies, warm-up, build ids)."""

    @abstractmethod
    async def categories(
        self, session: RetailerSession, store: StoreTarget, kind: ScrapeKind
    ) -> list[Category]:
        """The listings to page: for ``full`` they cover the whole catalogue; for ``spot``
        finer ones, so a tenth of them is about a tenth of the pages."""

    @abstractmethod
    async def fetch_page(
        self, session: RetailerSession, store: StoreTarget, category: Category, index: int
    ) -> ParsedPage | None:
        """Listing page ``index`` (0-based) of ``category``; None when the retailer says
        there is no such page."""

    def served_matches(self, requested: str, served: str) -> bool:
        """Whether the served id names the requested store (chains spell ids differently)."""
        return requested == served

    # --- the engine ------------------------------------------------------------------

    async def scrape(
        self,
        store: StoreTarget,
        kind: ScrapeKind = "full",
        *,
        rotation: int = 0,
        spot_fraction: float = DEFAULT_SPOT_FRACTION,
        spot_min_products: int = DEFAULT_SPOT_MIN_PRODUCTS,
        on_progress: ProgressCallback | None = None,
    ) -> ScrapeResult:
        """One full scrape or spot check. A spot check pages the bucket ``rotation`` names
        and, while it holds fewer than ``spot_min_products`` products, the buckets after
        it (a small catalogue's tenth cannot decide a health check)."""
        session = await self.open_session(store)
        # A category the store's own tree counts empty lists nothing there: paging it costs
        # a request for no products (a liquor store's tree still names every department).
        tree = [c for c in await self.categories(session, store, kind) if c.expected != 0]
        chosen = tree if kind == "full" else spot_sample(tree, rotation, spot_fraction)
        log.info(
            "scrape.start",
            company=self.company,
            store_id=store.store_id,
            kind=kind,
            categories=len(chosen),
        )
        tally = _Tally()
        pager = _Pager(self, session, store, tally, on_progress, len(chosen))
        pager.max_pages = self.spot_pages if kind == "spot" else None
        for done, category in enumerate(chosen):
            await pager.page_category(category, done)
            if tally.stopped:
                break
        if kind == "spot":
            await self._widen_spot(pager, tree, rotation, spot_fraction, spot_min_products)
        return self._result(store, kind, session, tally)

    async def _widen_spot(
        self, pager: _Pager, tree: list[Category], rotation: int, fraction: float, minimum: int
    ) -> None:
        """Page the categories of the buckets after ``rotation``, a category at a time,
        until the spot check holds ``minimum`` products. Categories the chain expects to
        fill more of a spot page come first (:meth:`spot_yield`; ties keep bucket order),
        so the sample reaches its size in as few requests as the chain allows."""
        tally = pager.tally
        read = len(tally.categories)
        # The buckets partition the tree, so the later ones hold each category once.
        rest = [
            category
            for step in range(1, spot_bucket_count(tree, fraction))
            for category in spot_sample(tree, rotation + step, fraction)
        ]
        rest.sort(key=lambda c: -self.spot_yield(c))
        for index, category in enumerate(rest, start=read):
            if tally.stopped or len(tally.products) >= minimum:
                return
            await pager.page_category(category, index)

    def spot_yield(self, category: Category) -> int:
        """How many products a spot check expects from ``category``'s first pages (0:
        unknown). Only chains that sample first pages (``spot_pages``) know: a chain that
        pages whole categories gets about a page of products per request from any."""
        hint = self.category_hint(category)
        if self.spot_pages is None or hint is None:
            return 0
        return min(hint, self.spot_pages * self.page_size)

    def category_hint(self, category: Category) -> int | None:
        """The products ``category`` is believed to list: the tree's count, else whatever
        the chain remembers of it."""
        return category.expected

    def _result(
        self, store: StoreTarget, kind: ScrapeKind, session: RetailerSession, tally: _Tally
    ) -> ScrapeResult:
        reason = _incomplete_reason(tally)
        served = tally.served
        if served is not None and not tally.mismatch:
            # Same store, spelled the listing's way; report it the lease's way.
            served = store.store_id
        result = ScrapeResult(
            company=self.company,
            kind=kind,
            requested_store_id=store.store_id,
            served_store_id=served,
            products=list(tally.products.values()),
            expected_count=tally.expected_products,
            complete=reason is None,
            requests_made=session.requests_made,
            categories_scraped=tally.categories,
            scraped_at=clock.now(),
            incomplete_reason=reason,
            dropped=tally.dropped,
        )
        log.info(
            "scrape.done",
            company=self.company,
            store_id=store.store_id,
            kind=kind,
            served_store_id=served,
            products=len(result.products),
            expected=tally.expected_products,
            listed=tally.expected,
            complete=result.complete,
            reason=reason,
            requests=result.requests_made,
        )
        return result


class _Pager:
    """Pages categories of one scrape, checking every page before keeping it."""

    def __init__(
        self,
        adapter: CatalogueAdapter,
        session: RetailerSession,
        store: StoreTarget,
        tally: _Tally,
        on_progress: ProgressCallback | None,
        categories_total: int,
    ) -> None:
        self.adapter = adapter
        self.session = session
        self.store = store
        self.tally = tally
        self.on_progress = on_progress
        self.categories_total = categories_total
        self.max_pages: int | None = None

    async def page_category(self, category: Category, done: int) -> None:
        self.tally.categories.append(category.key)
        index, pages, previous = 0, 1, frozenset[str]()
        while index < pages:
            page = await self._checked_page(category, index)
            if page is None:
                return
            if index == 0:
                # The retailer's own total decides the page count, never an empty page.
                pages = math.ceil(page.total / self.adapter.page_size)
                expected = page.total
                if self.max_pages is not None and pages > self.max_pages:
                    # A sample of the category: what its first pages promise is expected.
                    pages = self.max_pages
                    expected = pages * self.adapter.page_size
                self.tally.expected += expected
            skus = frozenset(p["sku"] for p in page.products)
            if index > 0 and skus and skus == previous:
                # IGA repeats its last page instead of ending: its total overstated it.
                self._short(category, index, "repeated the previous page")
                return
            previous = skus
            self.tally.served = self.tally.served or page.served_store_id
            self.tally.add(page)
            index += 1
            await _notify(self.on_progress, self._progress(category, index, pages, done))

    async def _checked_page(self, category: Category, index: int) -> ParsedPage | None:
        problem = ""
        page: ParsedPage | None = None
        for attempt in range(1, PAGE_ATTEMPTS + 1):
            try:
                page = await self.adapter.fetch_page(self.session, self.store, category, index)
            except (RetailerUnavailableError, UnexpectedStatusError) as exc:
                self._fail(category, index, exc)
                return None
            if page is None:
                return None
            problem = self._problem(page, index)
            if not problem:
                return page
            log.warning(
                "scrape.page_retry",
                company=self.adapter.company,
                store_id=self.store.store_id,
                category=category.key,
                page=index,
                problem=problem,
                attempt=attempt,
            )
        return self._give_up(category, index, page, problem)

    def _problem(self, page: ParsedPage, index: int) -> str:
        served = page.served_store_id
        if served is not None and not self.adapter.served_matches(self.store.store_id, served):
            return "served_store_mismatch"
        expected_rows = min(self.adapter.page_size, page.total - index * self.adapter.page_size)
        if page.counted_rows < expected_rows:
            return "short"
        return ""

    def _give_up(
        self, category: Category, index: int, page: ParsedPage | None, problem: str
    ) -> ParsedPage | None:
        if problem == "served_store_mismatch" and page is not None:
            # These prices belong to another store: record which, keep none of them.
            self.tally.mismatch = True
            self.tally.served = page.served_store_id
            log.warning(
                "scrape.served_store_mismatch",
                company=self.adapter.company,
                requested=self.store.store_id,
                served=page.served_store_id,
            )
            return None
        self._short(category, index, "fewer rows than the retailer's total implies")
        return page

    def _short(self, category: Category, index: int, detail: str) -> None:
        self.tally.short_pages.append(f"{category.key} page {index}")
        log.warning(
            "scrape.page_short",
            company=self.adapter.company,
            store_id=self.store.store_id,
            category=category.key,
            page=index,
            detail=detail,
        )

    def _fail(self, category: Category, index: int, exc: Exception) -> None:
        # One failed page makes the scrape partial, not useless: stop and say so.
        self.tally.failure = f"{category.key} page {index}: {exc}"
        log.warning(
            "scrape.page_failed",
            company=self.adapter.company,
            store_id=self.store.store_id,
            category=category.key,
            page=index,
            error=str(exc),
        )

    def _progress(self, category: Category, page: int, pages: int, done: int) -> ScrapeProgress:
        return ScrapeProgress(
            company=self.adapter.company,
            store_id=self.store.store_id,
            category=category.key,
            page=page,
            pages=pages,
            categories_done=done,
            categories_total=self.categories_total,
            products=len(self.tally.products),
            requests_made=self.session.requests_made,
        )


def _incomplete_reason(tally: _Tally) -> str | None:
    if tally.mismatch:
        return "served_store_mismatch"
    if tally.failure:
        return f"page failed: {tally.failure}"
    if tally.short_pages:
        return f"short pages: {', '.join(tally.short_pages[:5])}"
    if tally.rows < COMPLETENESS_THRESHOLD * tally.expected:
        return f"collected {tally.rows} rows of the {tally.expected} the retailer listed"
    return None


async def _notify(callback: ProgressCallback | None, progress: ScrapeProgress) -> None:
    if callback is None:
        return
    outcome = callback(progress)
    if inspect.isawaitable(outcome):
        await outcome
