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

import structlog
from splitcart_shared.clock import clock
from splitcart_shared.events import (
    Company,
    CompressedProducts,
    ScrapeKind,
    StoreRecord,
    StoreScraped,
    StoresDiscovered,
)

from .errors import RetailerUnavailableError, UnexpectedStatusError
from .http import RetailerHttp, RetailerSession

log = structlog.get_logger()

Product = dict[str, Any]
"""A normalised product as a plain dict with exactly the fields of NormalisedProduct."""

PRODUCT_FIELDS: tuple[str, ...] = (
    "sku",
    "name",
    "brand",
    "size",
    "barcode",
    "category_path",
    "price_cents",
    "was_price_cents",
    "unit_price_cents",
    "unit_measure",
    "on_special",
    "available",
    "url",
    "image_url",
)

# A full scrape that collected fewer rows than this share of the retailer's own totals is
# reported truncated (complete=False); ingest then refuses to delist from it.
COMPLETENESS_THRESHOLD = 0.98
DEFAULT_SPOT_FRACTION = 0.1


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
        return self.served_store_id != self.requested_store_id

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
        on_progress: ProgressCallback | None = None,
    ) -> ScrapeResult: ...

    async def aclose(self) -> None: ...


def spot_sample(categories: Sequence[Category], rotation: int, fraction: float) -> list[Category]:
    """The categories a spot check pages: one of ``round(1/fraction)`` fixed buckets of
    roughly equal page counts, the bucket chosen by ``rotation``. Successive rotations
    cycle through every bucket, so every category is checked within a cycle."""
    if not categories:
        return []
    buckets = max(1, min(len(categories), round(1 / fraction) if fraction > 0 else 1))
    loads = [0] * buckets
    members: list[list[Category]] = [[] for _ in range(buckets)]
    # Largest first into the lightest bucket: balanced and independent of input order.
    for category in sorted(categories, key=lambda c: (-_pages_hint(c), c.key)):
        target = loads.index(min(loads))
        loads[target] += _pages_hint(category)
        members[target].append(category)
    chosen = members[rotation % buckets]
    return sorted(chosen, key=lambda c: c.key)


def _pages_hint(category: Category) -> int:
    return max(1, math.ceil((category.expected or 1) / 36))


@dataclass(slots=True)
class _Tally:
    """Running state of one scrape."""

    products: dict[str, Product] = field(default_factory=dict)
    rows: int = 0
    expected: int = 0
    served: str | None = None
    mismatch: bool = False
    failure: str | None = None
    dropped: dict[str, int] = field(default_factory=dict)
    categories: list[str] = field(default_factory=list)

    def add(self, page: ParsedPage) -> None:
        self.rows += len(page.products)
        for product in page.products:
            self.products.setdefault(product["sku"], product)
        for reason, count in page.dropped.items():
            self.dropped[reason] = self.dropped.get(reason, 0) + count


class CatalogueAdapter(ABC):
    """Shared paging engine; a chain implements the abstract methods."""

    company: Company
    page_size: int

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
    async def categories(self, session: RetailerSession, store: StoreTarget) -> list[Category]:
        """The listings a full scrape pages, covering the whole catalogue."""

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
        on_progress: ProgressCallback | None = None,
    ) -> ScrapeResult:
        session = await self.open_session(store)
        tree = await self.categories(session, store)
        chosen = tree if kind == "full" else spot_sample(tree, rotation, spot_fraction)
        log.info(
            "scrape.start",
            company=self.company,
            store_id=store.store_id,
            kind=kind,
            categories=len(chosen),
        )
        tally = _Tally()
        for done, category in enumerate(chosen):
            await self._page_category(session, store, category, tally, (done, len(chosen)), on_progress)
            if tally.mismatch or tally.failure:
                break
        return self._result(store, kind, session, tally)

    async def _page_category(
        self,
        session: RetailerSession,
        store: StoreTarget,
        category: Category,
        tally: _Tally,
        position: tuple[int, int],
        on_progress: ProgressCallback | None,
    ) -> None:
        tally.categories.append(category.key)
        index, pages, previous = 0, 1, None
        while index < pages:
            page = await self._fetch_or_fail(session, store, category, index, tally)
            if page is None:
                return
            if index == 0:
                pages = math.ceil(page.total / self.page_size)
                tally.expected += page.total
            skus = frozenset(p["sku"] for p in page.products)
            if skus and skus == previous:
                # IGA repeats its last page instead of ending: the total overstated it.
                log.warning("scrape.page_repeated", company=self.company, category=category.key)
                return
            previous = skus
            if not self._check_served(store, page, tally):
                return
            tally.add(page)
            index += 1
            await _notify(on_progress, self._progress(store, category, index, pages, position, tally, session))

    async def _fetch_or_fail(
        self,
        session: RetailerSession,
        store: StoreTarget,
        category: Category,
        index: int,
        tally: _Tally,
    ) -> ParsedPage | None:
        try:
            return await self.fetch_page(session, store, category, index)
        except (RetailerUnavailableError, UnexpectedStatusError) as exc:
            # One failed page makes the scrape partial, not useless: stop and say so.
            tally.failure = f"{category.key} page {index}: {exc}"
            log.warning(
                "scrape.page_failed",
                company=self.company,
                store_id=store.store_id,
                category=category.key,
                page=index,
                error=str(exc),
            )
            return None

    def _check_served(self, store: StoreTarget, page: ParsedPage, tally: _Tally) -> bool:
        served = page.served_store_id
        if served is None:
            return True
        if tally.served is None or not tally.mismatch:
            tally.served = served
        if self.served_matches(store.store_id, served):
            return True
        tally.mismatch = True
        log.warning(
            "scrape.served_store_mismatch",
            company=self.company,
            requested=store.store_id,
            served=served,
        )
        return False

    def _progress(
        self,
        store: StoreTarget,
        category: Category,
        page: int,
        pages: int,
        position: tuple[int, int],
        tally: _Tally,
        session: RetailerSession,
    ) -> ScrapeProgress:
        return ScrapeProgress(
            company=self.company,
            store_id=store.store_id,
            category=category.key,
            page=page,
            pages=pages,
            categories_done=position[0],
            categories_total=position[1],
            products=len(tally.products),
            requests_made=session.requests_made,
        )

    def _result(
        self, store: StoreTarget, kind: ScrapeKind, session: RetailerSession, tally: _Tally
    ) -> ScrapeResult:
        reason = _incomplete_reason(tally)
        served = tally.served
        if served is not None and not tally.mismatch and self.served_matches(store.store_id, served):
            # Same store, spelled the chain's listing way; report the lease's spelling.
            served = store.store_id
        result = ScrapeResult(
            company=self.company,
            kind=kind,
            requested_store_id=store.store_id,
            served_store_id=served,
            products=list(tally.products.values()),
            expected_count=tally.expected,
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
            expected=tally.expected,
            complete=result.complete,
            reason=reason,
            requests=result.requests_made,
        )
        return result


def _incomplete_reason(tally: _Tally) -> str | None:
    if tally.mismatch:
        return "served_store_mismatch"
    if tally.failure:
        return f"page failed: {tally.failure}"
    if tally.rows < COMPLETENESS_THRESHOLD * tally.expected:
        return f"collected {tally.rows} rows of the {tally.expected} the retailer listed"
    return None


async def _notify(callback: ProgressCallback | None, progress: ScrapeProgress) -> None:
    if callback is None:
        return
    outcome = callback(progress)
    if inspect.isawaitable(outcome):
        await outcome


