"""All SQL of the scheduler: stores, their leases and the per-company lease budget.

Statements are SQLAlchemy Core on typed columns so the same code runs on Postgres and on
SQLite (where datetimes are stored as text and only typed parameters compare correctly).
Nothing here commits: the caller's transaction is the unit of work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row, RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from splitcart_scheduler.models import REASONS, Tier, lease_slots, stores

S = stores.c
L = lease_slots.c

FACT_COLUMNS = (
    S.id,
    S.company,
    S.store_id,
    S.scrapable,
    S.closed_at,
    S.role,
    S.role_changed_at,
    S.discovered_at,
    S.last_scraped_at,
    S.last_spot_at,
    S.last_completed_at,
    S.last_completed_kind,
    S.last_confirmed_at,
    S.consecutive_confirmations,
    S.rescrape_requested_at,
    S.lease_token,
    S.lease_expires_at,
    S.retry_after,
    S.attempts,
)
LEASE_COLUMNS = (
    S.id,
    S.company,
    S.store_id,
    S.retailer_store_id,
    S.name,
    S.state,
    S.lease_token,
    S.lease_expires_at,
    S.lease_kind,
    S.lease_reason,
    S.spot_rotation,
)
_CLEARED_LEASE: dict[str, Any] = {
    "lease_token": None,
    "lease_holder": None,
    "lease_granted_at": None,
    "lease_expires_at": None,
    "lease_heartbeat_at": None,
    "lease_reason": None,
}


def _is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def latest(column: Any, value: datetime) -> ColumnElement[Any]:
    """``max(column, value)`` that treats NULL as the distant past, on both backends."""
    return case((or_(column.is_(None), column < value), value), else_=column)


# --- stores learned from events ------------------------------------------------------------


async def upsert_discovered(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert new stores; refresh known ones unless this sweep is older than what we saw."""
    if not rows:
        return
    insert = pg_insert if _is_postgres(session) else sqlite_insert
    stmt = insert(stores)
    stmt = stmt.on_conflict_do_update(
        index_elements=[S.company, S.store_id],
        set_={
            "name": stmt.excluded.name,
            "retailer_store_id": stmt.excluded.retailer_store_id,
            "state": stmt.excluded.state,
            "scrapable": stmt.excluded.scrapable,
            "last_seen_at": stmt.excluded.last_seen_at,
            "closed_at": None,
        },
        where=S.last_seen_at <= stmt.excluded.last_seen_at,
    )
    await session.execute(stmt, list(rows))


async def close_unlisted(session: AsyncSession, company: str, swept_at: datetime) -> None:
    """A complete sweep that no longer lists a store means the store closed."""
    await session.execute(
        update(stores)
        .where(S.company == company, S.last_seen_at < swept_at, S.closed_at.is_(None))
        .values(closed_at=swept_at)
    )


async def ids_of(session: AsyncSession, company: str, store_ids: Iterable[str]) -> list[int]:
    wanted = list(store_ids)
    if not wanted:
        return []
    rows = await session.execute(select(S.id).where(S.company == company, S.store_id.in_(wanted)))
    return [int(r[0]) for r in rows]


async def company_ids(session: AsyncSession, company: str) -> list[int]:
    return [int(r[0]) for r in await session.execute(select(S.id).where(S.company == company))]


async def all_ids(session: AsyncSession) -> list[int]:
    return [int(r[0]) for r in await session.execute(select(S.id))]


async def update_store(
    session: AsyncSession,
    company: str,
    store_id: str,
    values: Mapping[str, Any],
    *guards: ColumnElement[bool],
) -> int | None:
    """Apply ``values`` to one store if every guard holds; its id, or None."""
    stmt = (
        update(stores)
        .where(S.company == company, S.store_id == store_id, *guards)
        .values(**values)
        .returning(S.id)
    )
    row = (await session.execute(stmt)).first()
    return int(row[0]) if row else None


async def update_stores(
    session: AsyncSession,
    company: str,
    store_ids: Sequence[str],
    values: Mapping[str, Any],
    *guards: ColumnElement[bool],
) -> list[int]:
    if not store_ids:
        return []
    stmt = (
        update(stores)
        .where(S.company == company, S.store_id.in_(list(store_ids)), *guards)
        .values(**values)
        .returning(S.id)
    )
    return [int(r[0]) for r in await session.execute(stmt)]


async def demote_lonely_anchors(session: AsyncSession, company: str, group_id: str) -> None:
    """An anchor whose last member left is alone in its group."""
    member = stores.alias("member")
    has_members = exists().where(
        member.c.company == company, member.c.group_id == group_id, member.c.role == "member"
    )
    await session.execute(
        update(stores)
        .where(S.company == company, S.group_id == group_id, S.role == "anchor", ~has_members)
        .values(role="alone")
    )


# --- placement in the hand-out order --------------------------------------------------------


async def facts(session: AsyncSession, ids: Sequence[int]) -> list[RowMapping]:
    if not ids:
        return []
    rows = await session.execute(select(*FACT_COLUMNS).where(S.id.in_(list(ids))))
    return list(rows.mappings())


async def set_placements(
    session: AsyncSession, placements: Sequence[tuple[int, int | None, datetime | None]]
) -> None:
    if not placements:
        return
    stmt = (
        update(stores)
        .where(S.id == bindparam("p_id"))
        .values(priority=bindparam("p_priority"), ready_at=bindparam("p_ready"))
    )
    params = [{"p_id": i, "p_priority": p, "p_ready": r} for i, p, r in placements]
    await session.execute(stmt, params)


async def set_placement(
    session: AsyncSession,
    store_pk: int,
    priority: int | None,
    ready_at: datetime | None,
    retry_after: datetime | None = None,
    *,
    with_retry: bool = False,
) -> None:
    """Place one store; ``with_retry`` also records when it may be retried."""

    def build() -> Any:
        values: dict[str, Any] = {"priority": bindparam("p"), "ready_at": bindparam("r")}
        if with_retry:
            values["retry_after"] = bindparam("retry", type_=S.retry_after.type)
        return update(stores).where(S.id == bindparam("pk")).values(**values)

    params = {"pk": store_pk, "p": priority, "r": ready_at, "retry": retry_after}
    await session.execute(_prebuilt(f"place-{with_retry}", build), params)


# --- leases ---------------------------------------------------------------------------------
#
# The hot path (claim, heartbeat, complete, fail) runs prebuilt statements with bound
# parameters: building and cache-keying a statement of this size costs more CPU than
# executing it.

_PREBUILT: dict[str, Any] = {}


def _prebuilt(key: str, build: Callable[[], Any]) -> Any:
    statement = _PREBUILT.get(key)
    if statement is None:
        statement = _PREBUILT[key] = build()
    return statement


def _handout(filtered: bool) -> Select[Any]:
    """The best store to hand out at ``:now``: due, not under a live lease, and a slot free
    in its company (``:companies`` only, when ``filtered``).

    A store whose lease expired may be taken over even when its company has no free slot: it
    still occupies one, which simply passes to the new holder.
    """
    now: Any = bindparam("now")
    free_slot = exists().where(L.company == S.company, L.store_pk.is_(None), ~L.retired)
    query = (
        select(S.id, S.company, S.lease_token.label("old_token"))
        .where(
            S.priority.is_not(None),
            S.ready_at <= now,
            or_(S.lease_token.is_(None), S.lease_expires_at <= now),
            or_(S.lease_token.is_not(None), free_slot),
        )
        .order_by(S.priority, S.ready_at)
        .limit(1)
    )
    if filtered:
        query = query.where(S.company.in_(bindparam("companies", expanding=True)))
    return query


def _lease_values() -> dict[str, Any]:
    is_spot = S.priority == int(Tier.MEMBER_CHECK)
    expires = bindparam("expires", type_=S.lease_expires_at.type)
    return {
        "lease_token": bindparam("token"),
        "lease_holder": bindparam("holder"),
        "lease_granted_at": bindparam("now"),
        "lease_expires_at": expires,
        "lease_heartbeat_at": bindparam("now"),
        "lease_kind": case((is_spot, "spot"), else_="full"),
        "lease_reason": case(*((S.priority == p, r) for p, r in REASONS.items()), else_="due"),
        "spot_rotation": S.spot_rotation + case((is_spot, 1), else_=0),
        # While leased, a store is ready again only once its lease expires (reclaim).
        "ready_at": expires,
    }


@dataclass(frozen=True)
class Claim:
    """What a claim found: ``picked`` False means nothing was due; ``lease`` None with
    ``picked`` True means a concurrent claim took the company's last free slot first."""

    picked: bool
    lease: RowMapping | None


async def claim(
    session: AsyncSession,
    *,
    token: str,
    holder: str,
    now: datetime,
    expires: datetime,
    companies: Sequence[str] | None,
) -> Claim:
    params: dict[str, Any] = {"token": token, "holder": holder, "now": now, "expires": expires}
    if companies:
        params["companies"] = list(companies)
    if _is_postgres(session):
        return await _claim_postgres(session, params, bool(companies))
    return await _claim_serialised(session, params, bool(companies))


def _build_claim_postgres(filtered: bool) -> Any:
    """One statement: lock the best candidate store and a free slot of its company, both
    skipping rows that concurrent claims hold, then occupy the slot and lease the store.
    A row taken by a claim that committed meanwhile is re-checked under its lock, so neither
    a store nor a slot is ever handed out twice."""
    pick = _handout(filtered).with_for_update(of=stores, skip_locked=True).cte("pick")
    slot = (
        select(L.company, L.slot)
        .where(L.company == pick.c.company, L.store_pk.is_(None), ~L.retired)
        .where(pick.c.old_token.is_(None))
        .limit(1)
        .with_for_update(of=lease_slots, skip_locked=True)
        .cte("slot")
    )
    take = (
        update(lease_slots)
        .where(L.company == slot.c.company, L.slot == slot.c.slot)
        .where(slot.c.company == pick.c.company)
        .values(store_pk=pick.c.id)
        .returning(L.slot)
        .cte("take")
    )
    leased = (
        update(stores)
        .where(S.id == pick.c.id, or_(pick.c.old_token.is_not(None), exists(select(take.c.slot))))
        .values(**_lease_values())
        .returning(*LEASE_COLUMNS)
        .cte("leased")
    )
    return select(pick.c.id.label("picked"), leased).select_from(pick.outerjoin(leased, true()))


async def _claim_postgres(session: AsyncSession, params: dict[str, Any], filtered: bool) -> Claim:
    stmt = _prebuilt(f"claim-pg-{filtered}", lambda: _build_claim_postgres(filtered))
    row = (await session.execute(stmt, params)).mappings().first()
    if row is None:
        return Claim(False, None)
    return Claim(True, row if row["lease_token"] is not None else None)


async def _claim_serialised(session: AsyncSession, params: dict[str, Any], filtered: bool) -> Claim:
    """SQLite: the transaction holds the database's write lock, so read-then-write is safe."""
    pick_stmt = _prebuilt(f"pick-{filtered}", lambda: _handout(filtered))
    pick = (await session.execute(pick_stmt, params)).first()
    if pick is None:
        return Claim(False, None)
    if pick.old_token is None:
        free = select(L.slot).where(L.company == pick.company, L.store_pk.is_(None), ~L.retired)
        slot = (await session.execute(free.limit(1))).scalar()
        if slot is None:
            return Claim(True, None)
        await session.execute(
            update(lease_slots)
            .where(L.company == pick.company, L.slot == slot)
            .values(store_pk=pick.id)
        )
    lease = _prebuilt(
        "lease-one",
        lambda: (
            update(stores)
            .where(S.id == bindparam("pk"))
            .values(**_lease_values())
            .returning(*LEASE_COLUMNS)
        ),
    )
    return Claim(True, (await session.execute(lease, {**params, "pk": pick.id})).mappings().first())


def _live(token: Any, now: Any) -> ColumnElement[bool]:
    return and_(S.lease_token == token, S.lease_expires_at > now)


async def live_lease(session: AsyncSession, token: str, now: datetime) -> RowMapping | None:
    stmt = _prebuilt(
        "live-lease",
        lambda: select(S.id, S.lease_granted_at).where(_live(bindparam("token"), bindparam("now"))),
    )
    return (await session.execute(stmt, {"token": token, "now": now})).mappings().first()


async def lease_exists(session: AsyncSession, token: str) -> bool:
    return (await session.execute(select(S.id).where(S.lease_token == token))).first() is not None


async def extend_lease(session: AsyncSession, token: str, now: datetime, expires: datetime) -> bool:
    def build() -> Any:
        expiry = bindparam("expires", type_=S.lease_expires_at.type)
        return (
            update(stores)
            .where(_live(bindparam("token"), bindparam("now")))
            .values(lease_expires_at=expiry, lease_heartbeat_at=bindparam("now"), ready_at=expiry)
            .returning(S.id)
        )

    params = {"token": token, "now": now, "expires": expires}
    return (await session.execute(_prebuilt("extend", build), params)).first() is not None


def _release(values: Mapping[str, Any], postgres: bool) -> Any:
    """End the lease named by ``:token`` if still live, returning the store's facts. On
    Postgres the same statement frees the lease's slot (SQLite: :func:`free_slots`)."""
    released = (
        update(stores)
        .where(_live(bindparam("token"), bindparam("now")))
        .values(**_CLEARED_LEASE, **values)
        .returning(*FACT_COLUMNS)
    )
    if not postgres:
        return released
    released_cte = released.cte("released")
    freed = (
        update(lease_slots)
        .where(L.store_pk == released_cte.c.id)
        .values(store_pk=None)
        .returning(L.slot)
        .cte("freed")
    )
    return select(released_cte).add_cte(freed)


async def _run_release(
    session: AsyncSession,
    key: str,
    values: Callable[[], Mapping[str, Any]],
    params: Mapping[str, Any],
) -> RowMapping | None:
    postgres = _is_postgres(session)
    stmt = _prebuilt(f"{key}-{postgres}", lambda: _release(values(), postgres))
    row = (await session.execute(stmt, dict(params))).mappings().first()
    if row is not None and not postgres:
        await free_slots(session, [int(row["id"])])
    return row


def _completed() -> dict[str, Any]:
    return {
        # As fresh as when the scrape started: a rescrape asked for meanwhile still stands.
        "last_completed_at": S.lease_granted_at,
        "last_completed_kind": S.lease_kind,
        "attempts": 0,
        "retry_after": None,
        "last_error": None,
    }


def _failed() -> dict[str, Any]:
    return {"attempts": S.attempts + 1, "last_error": bindparam("error")}


async def release_completed(session: AsyncSession, token: str, now: datetime) -> RowMapping | None:
    """End a live lease as done and free its slot; None if the token is stale."""
    return await _run_release(session, "complete", _completed, {"token": token, "now": now})


async def release_failed(
    session: AsyncSession, token: str, now: datetime, error: str
) -> RowMapping | None:
    """End a live lease as failed (one more attempt) and free its slot; None if stale."""
    params = {"token": token, "now": now, "error": error}
    return await _run_release(session, "fail", _failed, params)


async def release_expired(session: AsyncSession, now: datetime) -> list[RowMapping]:
    stmt = (
        update(stores)
        .where(S.lease_token.is_not(None), S.lease_expires_at <= now)
        .values(**_CLEARED_LEASE, last_error="lease expired")
        .returning(*FACT_COLUMNS)
    )
    return list((await session.execute(stmt)).mappings())


async def free_slots(session: AsyncSession, store_pks: Sequence[int]) -> None:
    """Give the slots of ended leases back to their companies."""
    if not store_pks:
        return
    stmt = _prebuilt(
        "free-slots",
        lambda: (
            update(lease_slots)
            .where(L.store_pk.in_(bindparam("pks", expanding=True)))
            .values(store_pk=None)
        ),
    )
    await session.execute(stmt, {"pks": list(store_pks)})


async def sync_slots(session: AsyncSession, caps: Mapping[str, int]) -> None:
    """Give each company exactly ``cap`` usable slots. Surplus slots retire: a lease holding
    one keeps it until it ends, but a retired slot is never taken again."""
    insert = pg_insert if _is_postgres(session) else sqlite_insert
    for company, cap in sorted(caps.items()):
        await session.execute(
            update(lease_slots).where(L.company == company).values(retired=L.slot >= cap)
        )
        await session.execute(
            delete(lease_slots).where(L.company == company, L.retired, L.store_pk.is_(None))
        )
        if cap > 0:
            rows = [{"company": company, "slot": n, "retired": False} for n in range(cap)]
            await session.execute(insert(lease_slots).on_conflict_do_nothing(), rows)
    await _free_leaked(session)


async def _free_leaked(session: AsyncSession) -> None:
    """A slot whose store no longer holds a lease is free (self-healing at start-up)."""
    leased = exists().where(S.id == L.store_pk, S.lease_token.is_not(None))
    await session.execute(
        update(lease_slots).where(L.store_pk.is_not(None), ~leased).values(store_pk=None)
    )


# --- reads ----------------------------------------------------------------------------------


async def store(session: AsyncSession, company: str, store_id: str) -> RowMapping | None:
    rows = await session.execute(select(stores).where(S.company == company, S.store_id == store_id))
    return rows.mappings().first()


async def queue(
    session: AsyncSession, now: datetime, company: str | None, limit: int
) -> list[RowMapping]:
    query = (
        select(S.company, S.store_id, S.name, S.priority, S.ready_at, S.attempts, S.lease_token)
        .where(
            S.priority.is_not(None),
            S.ready_at <= now,
            or_(S.lease_token.is_(None), S.lease_expires_at <= now),
        )
        .order_by(S.priority, S.ready_at)
        .limit(limit)
    )
    if company:
        query = query.where(S.company == company)
    return list((await session.execute(query)).mappings())


async def due_counts(session: AsyncSession, now: datetime) -> list[Row[Any]]:
    query = (
        select(S.company, S.priority, func.count())
        .where(
            S.priority.is_not(None),
            S.ready_at <= now,
            or_(S.lease_token.is_(None), S.lease_expires_at <= now),
        )
        .group_by(S.company, S.priority)
    )
    return list(await session.execute(query))


async def lease_counts(session: AsyncSession, now: datetime) -> list[Row[Any]]:
    """Per company: usable slots (the cap) and slots held by a lease that is still live."""
    held = and_(L.store_pk.is_not(None), S.lease_expires_at > now)
    query = (
        select(
            L.company,
            func.count().filter(~L.retired),
            func.count().filter(held),
        )
        .select_from(lease_slots.outerjoin(stores, S.id == L.store_pk))
        .group_by(L.company)
        .order_by(L.company)
    )
    return list(await session.execute(query))
