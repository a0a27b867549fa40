"""Fixtures of the ingest tests: the real consumer behind the kernel's inbox transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from splitcart_ingest import models
from splitcart_ingest.consumers import TOPICS, IngestConsumer
from splitcart_ingest.repository import current_price_columns
from splitcart_shared.bus import Subscription, handle_once
from splitcart_shared.db import Database
from splitcart_shared.events import (
    CompressedProducts,
    EnrichedBarcode,
    Envelope,
    Payload,
    ProductsEnriched,
    StoreRecord,
    StoreScraped,
    StoresDiscovered,
)
from splitcart_shared.outbox import Outbox
from sqlalchemy import func, select

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def product(sku: str, price: int | None = 350, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "sku": sku,
        "name": f"Product {sku}",
        "brand": "Acme",
        "size": "500g",
        "barcode": None,
        "category_path": ["Pantry", "Snacks"],
        "price_cents": price,
        "was_price_cents": None,
        "unit_price_cents": 70,
        "unit_measure": "100g",
        "on_special": False,
        "available": True,
        "url": f"https://shop.example/{sku}",
        "image_url": None,
    }
    row.update(fields)
    return row


def store(store_id: str, **fields: Any) -> StoreRecord:
    values: dict[str, Any] = {
        "store_id": store_id,
        "name": f"Store {store_id}",
        "division": "Supermarkets",
        "address": "1 Main St",
        "suburb": "Richmond",
        "state": "VIC",
        "postcode": "3121",
        "latitude": -37.82,
        "longitude": 145.0,
    }
    values.update(fields)
    return StoreRecord(**values)


class Harness:
    """Delivers events to the ingest consumer exactly as the bus does and reads results."""

    make_product = staticmethod(product)
    make_store = staticmethod(store)

    def __init__(self, db: Database) -> None:
        self.db = db
        self.outbox = Outbox(models.messaging, producer="ingest")
        self.sub = Subscription("ingest", TOPICS, IngestConsumer(self.outbox), db, models.messaging)
        self.clock = T0

    async def deliver(self, payload: Payload, envelope: Envelope | None = None) -> Envelope:
        envelope = envelope or Envelope.wrap(payload, producer="scraper")
        await handle_once(self.sub, envelope, payload)
        return envelope

    async def discover(
        self, company: str = "coles", stores: list[StoreRecord] | None = None, **kw: Any
    ) -> Envelope:
        self.clock += timedelta(minutes=1)
        sweep = StoresDiscovered(
            company=company,  # type: ignore[arg-type]
            swept_at=kw.pop("swept_at", self.clock),
            stores=stores if stores is not None else [store("100")],
            **kw,
        )
        return await self.deliver(sweep)

    def scrape_event(
        self,
        rows: list[dict[str, Any]],
        store_id: str = "100",
        company: str = "coles",
        kind: str = "full",
        **kw: Any,
    ) -> StoreScraped:
        self.clock += timedelta(hours=1)
        values: dict[str, Any] = {
            "company": company,
            "lease_token": "lease-1",
            "requested_store_id": store_id,
            "served_store_id": store_id,
            "scraped_at": self.clock,
            "kind": kind,
            "expected_count": len(rows),
            "products": CompressedProducts.pack(rows),
        }
        values.update(kw)
        return StoreScraped(**values)

    async def scrape(self, rows: list[dict[str, Any]], **kw: Any) -> Envelope:
        return await self.deliver(self.scrape_event(rows, **kw))

    async def enrich(self, company: str, barcodes: dict[str, str]) -> Envelope:
        codes = [EnrichedBarcode(sku=sku, barcode=code) for sku, code in barcodes.items()]
        return await self.deliver(ProductsEnriched(company=company, barcodes=codes))  # type: ignore[arg-type]

    async def rows(self, table: Any, *where: Any, order: Any = None) -> list[dict[str, Any]]:
        query = select(table).where(*where)
        query = query.order_by(*(order if order is not None else table.primary_key.columns))
        async with self.db.read() as session:
            return [dict(r) for r in (await session.execute(query)).mappings().all()]

    async def count(self, table: Any, *where: Any) -> int:
        async with self.db.read() as session:
            query = select(func.count()).select_from(table).where(*where)
            return int((await session.execute(query)).scalar_one())

    async def events(self, event_type: str) -> list[dict[str, Any]]:
        outbox = models.messaging.outbox
        rows = await self.rows(outbox, outbox.c.event_type == event_type, order=[outbox.c.id])
        return [Envelope.from_bytes(r["body"]).payload for r in rows]

    async def state(self) -> dict[str, list[dict[str, Any]]]:
        """Every catalog table except messaging: "nothing written" means this is unchanged."""
        tables = [
            models.companies,
            models.divisions,
            models.stores,
            models.products,
            models.current_prices,
            models.price_history,
            models.snapshots,
        ]
        return {t.name: await self.rows(t) for t in tables}

    async def prices(
        self, store_id: str = "100", company: str = "coles"
    ) -> dict[str, dict[str, Any]]:
        """Current prices of a store by SKU, observation times as readers see them."""
        cp, p, s = models.current_prices, models.products, models.stores
        query = (
            select(*current_price_columns(), p.c.sku)
            .join(p, p.c.id == cp.c.product_id)
            .join(s, s.c.id == cp.c.store_pk)
            .where(s.c.company == company, s.c.store_id == store_id)
        )
        async with self.db.read() as session:
            rows = (await session.execute(query)).mappings().all()
        return {r["sku"]: dict(r) for r in rows}

    async def history(self, sku: str, store_id: str = "100") -> list[dict[str, Any]]:
        h, p, s = models.price_history, models.products, models.stores
        columns = [
            models.history_last_seen().label(c.name) if c.name == "last_seen" else c for c in h.c
        ]
        query = (
            select(*columns)
            .join(p, p.c.id == h.c.product_id)
            .join(s, s.c.id == h.c.store_pk)
            .where(p.c.sku == sku, s.c.store_id == store_id)
            .order_by(h.c.valid_from)
        )
        async with self.db.read() as session:
            return [dict(r) for r in (await session.execute(query)).mappings().all()]

    async def product_row(self, company: str, sku: str) -> dict[str, Any]:
        p = models.products
        (row,) = await self.rows(p, p.c.company == company, p.c.sku == sku)
        return row


@pytest.fixture
def harness(db: Database) -> Harness:
    return Harness(db)
