"""Schema revisions of the scheduler, on both backends."""

from __future__ import annotations

from splitcart_scheduler.app import service
from splitcart_scheduler.models import SCHEMA
from splitcart_scheduler.testing import START
from splitcart_shared.db import Database
from splitcart_shared.migrations import downgrade, upgrade
from sqlalchemy import DateTime, bindparam, text

BEFORE_LEASE_SLOT = "d3c63074d78c"


async def test_a_lease_granted_before_stores_named_their_slots_knows_its_slot_after(
    blank: Database,
) -> None:
    assert service.migrations is not None
    await upgrade(blank, service.migrations, SCHEMA, BEFORE_LEASE_SLOT)
    async with blank.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO scheduling.stores (id, company, store_id, name, discovered_at, "
                "last_seen_at, lease_token, lease_expires_at) VALUES "
                "(1, 'coles', 'A', 'A', :at, :at, 'held', :at), "
                "(2, 'coles', 'B', 'B', :at, :at, NULL, NULL)"
            ).bindparams(bindparam("at", type_=DateTime(timezone=True))),
            {"at": START},
        )
        await session.execute(
            text(
                "INSERT INTO scheduling.lease_slots (company, slot, store_pk, retired) "
                "VALUES ('coles', 0, NULL, false), ('coles', 1, 1, false)"
            )
        )

    await upgrade(blank, service.migrations, SCHEMA)
    async with blank.read() as session:
        slots = (await session.execute(text("SELECT id, lease_slot FROM scheduling.stores"))).all()
    assert sorted(tuple(row) for row in slots) == [(1, 1), (2, None)]

    await downgrade(blank, service.migrations, SCHEMA, BEFORE_LEASE_SLOT)
    await upgrade(blank, service.migrations, SCHEMA)
