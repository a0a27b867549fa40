"""Fixtures of the grouper's service tests: a catalogue seeded in bulk, the real consumer
behind the kernel's inbox transaction, deterministic rounds and a simulated clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
import pytest_asyncio
from splitcart_grouper import models
from splitcart_grouper.consumers import TOPICS, GrouperConsumer
from splitcart_grouper.service import Grouper, RoundReport, run_round
from splitcart_grouper.settings import GrouperSettings
from splitcart_ingest import models as catalog
from splitcart_shared.bus import Subscription, handle_once
from splitcart_shared.clock import SimulatedClock, clock, use_clock
from splitcart_shared.db import Database
from splitcart_shared.events import Envelope, Payload, StoreIngested
from splitcart_shared.outbox import Outbox
from sqlalchemy import delete, insert, select, update

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
N_PRODUCTS = 200


def base_prices(seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.integers(10, 900, N_PRODUCTS) * 10 - 1).astype(np.int64)


def variant(base: np.ndarray, changed: int, offset: int = 0) -> np.ndarray:
    """``base`` with ``changed`` products repriced (10 % of 200 is far past the 2 % allowed)."""
    out = base.copy()
    out[offset : offset + changed] += 20
    return out


class Catalog:
    """Writes ``catalog`` rows the way ingest leaves them, in bulk."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.stores: dict[tuple[str, str], int] = {}
        self.products: dict[str, list[int]] = {}

    async def company(self, company: str, n_products: int = N_PRODUCTS) -> None:
        if company in self.products:
            return
        now = clock.now()
        async with self.db.transaction() as s:
            await s.execute(
                insert(catalog.companies).values(company=company, name=company, first_seen=now)
            )
            rows = [
                {
                    "company": company,
                    "sku": f"{company}-{i}",
                    "name": f"Product {i}",
                    "brand": "Acme",
                    "size": "500g",
                    "category_path": ["Pantry"],
                    "match_key": f"acme|product {i}|500g",
                    "first_seen": now,
                    "updated_at": now,
                }
                for i in range(n_products)
            ]
            await s.execute(insert(catalog.products), rows)
            ids = await s.execute(
                select(catalog.products.c.id)
                .where(catalog.products.c.company == company)
                .order_by(catalog.products.c.id)
            )
            self.products[company] = [int(i) for (i,) in ids]

    async def store(self, company: str, store_id: str) -> int:
        await self.company(company)
        if (company, store_id) not in self.stores:
            now = clock.now()
            async with self.db.transaction() as s:
                pk = await s.scalar(
                    insert(catalog.stores)
                    .values(
                        company=company,
                        store_id=store_id,
                        name=f"Store {store_id}",
                        first_seen=now,
                        last_swept_at=now,
                    )
                    .returning(catalog.stores.c.id)
                )
            self.stores[company, store_id] = int(pk)
        return self.stores[company, store_id]

    async def bulk_prices(self, company: str, rows: list[tuple[str, int, int, datetime]]) -> None:
        """Many stores at once: (store_id, product position, cents, observed_at) rows."""
        pks = {s: await self.store(company, s) for s in sorted({r[0] for r in rows})}
        ids = self.products[company]
        values = [
            {
                "store_pk": pks[s],
                "product_id": ids[i],
                "company": company,
                "price_cents": cents,
                "on_special": False,
                "available": True,
                "observed_at": at,
                "first_seen": at,
                "last_seen": at,
                "valid_from": at,
            }
            for s, i, cents, at in rows
        ]
        async with self.db.transaction() as s:
            for start in range(0, len(values), 5000):
                await s.execute(insert(catalog.current_prices), values[start : start + 5000])

    async def prices(
        self,
        company: str,
        store_id: str,
        cents: Sequence[int],
        at: datetime,
        only: Sequence[int] | None = None,
    ) -> None:
        """Replace the store's current prices: product ``i`` at ``cents[i]`` (``only``:
        just those product positions), all observed at ``at``."""
        pk = await self.store(company, store_id)
        ids = self.products[company]
        positions = range(len(cents)) if only is None else only
        rows = [
            {
                "store_pk": pk,
                "product_id": ids[i],
                "company": company,
                "price_cents": int(cents[i]),
                "unit_price_cents": None,
                "on_special": False,
                "available": True,
                "observed_at": at,
                "first_seen": at,
                "last_seen": at,
                "valid_from": at,
            }
            for i in positions
        ]
        async with self.db.transaction() as s:
            cp = catalog.current_prices
            await s.execute(delete(cp).where(cp.c.store_pk == pk))
            await s.execute(insert(cp), rows)
            await s.execute(
                update(catalog.stores).where(catalog.stores.c.id == pk).values(last_scraped_at=at)
            )


class World:
    """The grouper as a round sees it: catalogue, consumer, rounds, and what they wrote."""

    base_prices = staticmethod(base_prices)
    variant = staticmethod(variant)

    def __init__(self, db: Database, settings: GrouperSettings) -> None:
        self.db = db
        self.catalog = Catalog(db)
        self.grouper = Grouper(db, Outbox(models.messaging, producer="grouper"), settings)
        consumer = GrouperConsumer(self.grouper)
        self.sub = Subscription("grouper", TOPICS, consumer, db, models.messaging)

    async def deliver(self, payload: Payload, envelope: Envelope | None = None) -> Envelope:
        envelope = envelope or Envelope.wrap(payload, producer="ingest")
        await handle_once(self.sub, envelope, payload)
        return envelope

    async def ingest(
        self,
        store_id: str,
        cents: Sequence[int],
        company: str = "coles",
        kind: str = "full",
        only: Sequence[int] | None = None,
    ) -> Envelope:
        """A scrape observed now lands in the catalogue, then ingest announces it."""
        now = clock.now()
        await self.catalog.prices(company, store_id, cents, now, only)
        if kind == "full":
            async with self.db.transaction() as s:
                await s.execute(
                    update(catalog.stores)
                    .where(catalog.stores.c.id == self.catalog.stores[company, store_id])
                    .values(last_full_scrape_at=now)
                )
        event = StoreIngested(
            company=company,  # type: ignore[arg-type]
            store_id=store_id,
            kind=kind,  # type: ignore[arg-type]
            scraped_at=now,
            source_event_id="00000000-0000-0000-0000-000000000000",  # type: ignore[arg-type]
            products=len(cents),
            new_products=0,
            changed_prices=0,
            delisted=0,
        )
        return await self.deliver(event)

    async def round(self, company: str = "coles") -> RoundReport:
        return await run_round(self.grouper, company)

    async def rows(self, table: Any, *where: Any) -> list[dict[str, Any]]:
        order = [c for c in table.primary_key.columns]
        async with self.db.read() as s:
            result = await s.execute(select(table).where(*where).order_by(*order))
            return [dict(r) for r in result.mappings()]

    async def events(self, event_type: str | None = None) -> list[Envelope]:
        out = [Envelope.from_bytes(r["body"]) for r in await self.rows(models.messaging.outbox)]
        return [e for e in out if event_type is None or e.event_type == event_type]

    async def partition(self, company: str = "coles") -> list[set[str]]:
        groups: dict[str, set[str]] = {}
        for m in await self.rows(models.memberships, models.memberships.c.company == company):
            groups.setdefault(m["group_id"], set()).add(m["store_id"])
        return sorted(groups.values(), key=sorted)

    async def membership(self, store_id: str, company: str = "coles") -> dict[str, Any]:
        t = models.memberships
        (row,) = await self.rows(t, t.c.company == company, t.c.store_id == store_id)
        return row

    async def anchor_of(self, store_id: str, company: str = "coles") -> str:
        group_id = (await self.membership(store_id, company))["group_id"]
        (row,) = await self.rows(models.groups, models.groups.c.id == group_id)
        return str(row["anchor_store_id"])

    async def history(self, store_id: str, company: str = "coles") -> list[dict[str, Any]]:
        t = models.membership_history
        return await self.rows(t, t.c.company == company, t.c.store_id == store_id)

    async def evidence(self, decision: str | None = None) -> list[dict[str, Any]]:
        t = models.evidence
        return await self.rows(t, *([t.c.decision == decision] if decision else []))

    async def snapshot(self) -> dict[str, Any]:
        tables = [models.groups, models.memberships, models.membership_history, models.evidence]
        state = {t.name: await self.rows(t) for t in tables}
        state["events"] = [e.event_id for e in await self.events()]
        state["dirty"] = await self.rows(models.dirty_stores)
        return state


def grouper_settings(database_url: str, **overrides: Any) -> GrouperSettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "grouper_worker_enabled": False,
        "log_json": False,
    }
    values.update(overrides)
    return GrouperSettings(**values)


@pytest.fixture
def sim_clock() -> Iterator[SimulatedClock]:
    previous = clock.target
    simulated = SimulatedClock(T0)
    use_clock(simulated)
    yield simulated
    use_clock(previous)


@pytest_asyncio.fixture
async def world(db: Database, sim_clock: SimulatedClock) -> AsyncIterator[World]:
    yield World(db, grouper_settings(db.url))


def hours(n: float) -> timedelta:
    return timedelta(hours=n)
