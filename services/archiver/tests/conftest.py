"""Fixtures of the archiver tests: a seeded catalogue and grouping state, an Archiver with
its worker off, and a simulated clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from splitcart_archiver import models
from splitcart_archiver.service import Archiver
from splitcart_archiver.settings import ArchiverSettings
from splitcart_grouper import models as grouping
from splitcart_ingest import models as catalog
from splitcart_shared.clock import SimulatedClock, clock, use_clock
from splitcart_shared.db import Database
from splitcart_shared.events import Envelope
from splitcart_shared.outbox import Outbox
from sqlalchemy import insert, select

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


class Seed:
    """Writes catalogue and grouping rows the way ingest and grouper leave them."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.divisions: dict[tuple[str, str], int] = {}
        self.stores: dict[tuple[str, str], int] = {}
        self.products: dict[tuple[str, str], int] = {}

    async def _insert(self, table: Any, **values: Any) -> Any:
        async with self.db.transaction() as session:
            result = await session.execute(insert(table).values(**values))
            key = result.inserted_primary_key
        return key[0] if key else None

    async def company(self, company: str = "coles", name: str = "Coles") -> None:
        await self._insert(
            catalog.companies, company=company, name=name, first_seen=T0, last_swept_at=T0
        )

    async def store(
        self, store_id: str, company: str = "coles", division: str = "Supermarkets", **kw: Any
    ) -> int:
        if (company, division) not in self.divisions:
            self.divisions[company, division] = await self._insert(
                catalog.divisions, company=company, name=division, first_seen=T0
            )
        values: dict[str, Any] = {
            "company": company,
            "store_id": store_id,
            "name": f"Store {store_id}",
            "division_id": self.divisions[company, division],
            "address": "1 Main St",
            "suburb": "Richmond",
            "state": "VIC",
            "postcode": "3121",
            "latitude": -37.82,
            "longitude": 145.0,
            "first_seen": T0,
            "last_swept_at": T0,
        }
        values.update(kw)
        pk = await self._insert(catalog.stores, **values)
        self.stores[company, store_id] = pk
        return pk

    async def product(
        self, sku: str, company: str = "coles", category: list[str] | None = None, **kw: Any
    ) -> int:
        values: dict[str, Any] = {
            "company": company,
            "sku": sku,
            "name": f"Product {sku}",
            "brand": "Acme",
            "size": "500g",
            "barcode": None,
            "category_path": category if category is not None else ["Pantry", "Snacks"],
            "url": f"https://shop.example/{sku}",
            "image_url": f"https://img.example/{sku}.jpg",
            "match_key": f"acme|product {sku}|500g",
            "first_seen": T0,
            "updated_at": T0,
        }
        values.update(kw)
        pk = await self._insert(catalog.products, **values)
        self.products[company, sku] = pk
        return pk

    async def price(
        self,
        store_id: str,
        sku: str,
        valid_from: datetime,
        last_seen: datetime | None = None,
        price_cents: int | None = 350,
        company: str = "coles",
        **kw: Any,
    ) -> None:
        values: dict[str, Any] = {
            "store_pk": self.stores[company, store_id],
            "product_id": self.products[company, sku],
            "price_cents": price_cents,
            "was_price_cents": None,
            "unit_price_cents": None,
            "unit_measure": None,
            "on_special": False,
            "available": True,
            "valid_from": valid_from,
            "last_seen": last_seen or valid_from,
        }
        values.update(kw)
        await self._insert(catalog.price_history, **values)

    async def group(
        self, group_id: str, anchor: str, members: list[str], company: str = "coles"
    ) -> None:
        """A live group: ``groups`` and ``memberships`` rows (history is separate)."""
        await self._insert(
            grouping.groups,
            id=group_id,
            company=company,
            anchor_store_id=anchor,
            created_at=T0,
            updated_at=T0,
        )
        for store_id in [anchor, *members]:
            await self._insert(
                grouping.memberships,
                company=company,
                store_id=store_id,
                group_id=group_id,
                role="anchor" if store_id == anchor else "member",
                joined_at=T0,
            )

    async def membership(
        self,
        store_id: str,
        group_id: str,
        anchor: str,
        valid_from: datetime,
        valid_to: datetime | None = None,
        company: str = "coles",
    ) -> None:
        await self._insert(
            grouping.membership_history,
            company=company,
            store_id=store_id,
            group_id=group_id,
            anchor_store_id=anchor,
            role="anchor" if anchor == store_id else "member",
            valid_from=valid_from,
            valid_to=valid_to,
        )


@pytest.fixture
def sim_clock() -> Iterator[SimulatedClock]:
    previous = clock.target
    simulated = SimulatedClock(at(40))
    use_clock(simulated)
    yield simulated
    use_clock(previous)


@pytest.fixture
def seed(db: Database) -> Seed:
    return Seed(db)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> ArchiverSettings:
    return ArchiverSettings(
        database_url=database_url,
        archive_root=tmp_path / "archives",
        archive_worker=False,
        archive_debounce_seconds=60,
        archive_max_delay_seconds=600,
        auth_disabled=True,
    )


@pytest.fixture
def archiver(db: Database, settings: ArchiverSettings, sim_clock: SimulatedClock) -> Archiver:
    return Archiver(db, settings, Outbox(models.messaging, producer="archiver"))


def read_json(root: Path, relative: str) -> Any:
    return orjson.loads((root / relative).read_bytes())


async def outbox_events(db: Database, event_type: str) -> list[dict[str, Any]]:
    outbox = models.messaging.outbox
    query = select(outbox.c.body).where(outbox.c.event_type == event_type).order_by(outbox.c.id)
    async with db.read() as session:
        bodies = (await session.execute(query)).scalars().all()
    return [Envelope.from_bytes(body).payload for body in bodies]


async def dirty(db: Database) -> dict[tuple[str, str], int]:
    t = models.dirty_archives
    async with db.read() as session:
        rows = (await session.execute(select(t.c.company, t.c.store_id, t.c.marks))).all()
    return {(r.company, r.store_id): int(r.marks) for r in rows}
