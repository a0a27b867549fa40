"""All SQL of the scheduler: stores, their leases and the per-company lease slots.

Statements are SQLAlchemy Core on typed columns so the same code runs on Postgres and on
SQLite (where datetimes are stored as text and only typed parameters compare correctly).
Functions taking a session never commit: the caller's transaction is the unit of work. The
lease stores at the end are the exception by design: each of their calls is one unit of work
(on Postgres, plain asyncpg statements for the scrapers' hot path).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol

import asyncpg
from splitcart_shared.db import Database
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import RowMapping, make_url
from sqlalchemy.ext.asyncio import AsyncSession

from splitcart_scheduler.batching import Batcher
from splitcart_scheduler.models import REASONS, SPOT_TIERS, lease_slots, stores

S = stores.c
L = lease_slots.c

FACT_COLUMNS = (
    S.id,
    S.company,
    S.store_id,
    S.scrapable,
    S.company_ready,
    S.company_held,
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
    "lease_slot": None,
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
    # In id order, like every bulk update here: concurrent starts never lock in a cycle.
    return [int(r[0]) for r in await session.execute(select(S.id).order_by(S.id))]


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


# Values and guards for the updates events ask for: each guard makes a replayed or late
# event a no-op.


def group_fact_is_newer(at: datetime) -> ColumnElement[bool]:
    """Group facts apply only if no newer group event was applied already."""
    return or_(S.role_changed_at.is_(None), S.role_changed_at <= at)


def streak_kept_in(group_id: str) -> ColumnElement[Any]:
    """A member moving to another group starts its confirmation streak again."""
    return case((S.group_id == group_id, S.consecutive_confirmations), else_=0)


def confirmation_is_newer(at: datetime) -> ColumnElement[bool]:
    return or_(S.last_confirmed_at.is_(None), S.last_confirmed_at <= at)


def no_rescrape_pending() -> ColumnElement[bool]:
    """No rescrape asked for, or the one asked for was met by a full scrape started at or
    after its moment."""
    met = and_(S.last_completed_kind == "full", S.last_completed_at >= S.rescrape_requested_at)
    return or_(S.rescrape_requested_at.is_(None), met)


def scraped_values(kind: str, at: datetime) -> dict[str, Any]:
    """An ingested scrape; a full one meets a rescrape asked for at or before its moment."""
    if kind != "full":
        return {"last_spot_at": latest(S.last_spot_at, at)}
    met = S.rescrape_requested_at <= at
    return {
        "last_scraped_at": latest(S.last_scraped_at, at),
        "rescrape_requested_at": case((met, null()), else_=S.rescrape_requested_at),
        "rescrape_reason": case((met, null()), else_=S.rescrape_reason),
    }


def rejection_values(ref: str, error: str) -> dict[str, Any]:
    """A refused scrape: one more failed attempt, and its completion no longer counts."""
    return {
        "attempts": S.attempts + 1,
        "last_error": error,
        "last_failure_ref": ref,
        "last_completed_at": None,
        "last_completed_kind": None,
    }


def failure_not_counted(ref: str) -> ColumnElement[bool]:
    return or_(S.last_failure_ref.is_(None), S.last_failure_ref != ref)


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
    query = select(*FACT_COLUMNS).where(S.id.in_(list(ids))).order_by(S.id)
    return list((await session.execute(query)).mappings())


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
    is_spot = S.priority.in_(SPOT_TIERS)
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
    ``picked`` True means the free slots of the company were taken first (by a concurrent
    claim, or by callers ahead in the same batch): the caller may try again."""

    picked: bool
    lease: Mapping[str, Any] | None


async def claim(
    session: AsyncSession,
    *,
    token: str,
    holder: str,
    now: datetime,
    expires: datetime,
    companies: Sequence[str] | None,
) -> Claim:
    """Claim on SQLite (Postgres claims through :class:`PoolLeases`)."""
    params: dict[str, Any] = {"token": token, "holder": holder, "now": now, "expires": expires}
    if companies:
        params["companies"] = list(companies)
    return await _claim_serialised(session, params, bool(companies))


async def _claim_serialised(session: AsyncSession, params: dict[str, Any], filtered: bool) -> Claim:
    """SQLite: the transaction holds the database's write lock, so read-then-write is safe."""
    pick_stmt = _prebuilt(f"pick-{filtered}", lambda: _handout(filtered))
    pick = (await session.execute(pick_stmt, params)).first()
    if pick is None:
        return Claim(False, None)
    slot = None  # a lease taken over keeps the slot it occupies
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
            .values(
                **_lease_values(),
                lease_slot=func.coalesce(bindparam("slot", type_=S.lease_slot.type), S.lease_slot),
            )
            .returning(*LEASE_COLUMNS)
        ),
    )
    args = {**params, "pk": pick.id, "slot": slot}
    leased = (await session.execute(lease, args)).mappings().first()
    return Claim(True, dict(leased) if leased is not None else None)


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


def _release(values: Mapping[str, Any]) -> Any:
    return (
        update(stores)
        .where(_live(bindparam("token"), bindparam("now")))
        .values(**_CLEARED_LEASE, **values)
        .returning(*FACT_COLUMNS)
    )


async def _run_release(
    session: AsyncSession,
    key: str,
    values: Callable[[], Mapping[str, Any]],
    params: Mapping[str, Any],
) -> RowMapping | None:
    stmt = _prebuilt(key, lambda: _release(values()))
    row = (await session.execute(stmt, dict(params))).mappings().first()
    if row is not None:
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


# --- the lease stores: one per backend -------------------------------------------------------

Placer = Callable[[Mapping[str, Any]], tuple[int | None, datetime | None, datetime | None]]
"""Given the facts of a store whose lease just ended: ``(priority, ready_at, retry_after)``."""


class LeaseStore(Protocol):
    """Leases for the HTTP hot path; each call is its own unit of work."""

    async def claim(
        self,
        *,
        token: str,
        holder: str,
        now: datetime,
        expires: datetime,
        companies: Sequence[str] | None,
    ) -> Claim: ...

    async def extend(
        self, token: str, now: datetime, ttl: timedelta, lifetime: timedelta
    ) -> datetime | None: ...

    async def release(
        self, token: str, now: datetime, error: str | None, place: Placer
    ) -> Mapping[str, Any] | None: ...

    async def exists(self, token: str) -> bool: ...


class SessionLeases:
    """Leases through SQLAlchemy sessions, for SQLite (embedded).

    Every SQLite write transaction takes the database's one write lock, so claims are
    serialised anyway; queueing them here, first come first served, keeps dozens of
    concurrent callers from polling SQLite's busy handler (which is unfair and can starve
    one caller past its timeout).
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.turn = asyncio.Lock()

    async def claim(
        self,
        *,
        token: str,
        holder: str,
        now: datetime,
        expires: datetime,
        companies: Sequence[str] | None,
    ) -> Claim:
        async with self.turn, self.db.transaction() as session:
            return await claim(
                session, token=token, holder=holder, now=now, expires=expires, companies=companies
            )

    async def extend(
        self, token: str, now: datetime, ttl: timedelta, lifetime: timedelta
    ) -> datetime | None:
        async with self.turn, self.db.transaction() as session:
            lease = await live_lease(session, token, now)
            if lease is None:
                return None
            expires = min(now + ttl, _aware(lease["lease_granted_at"]) + lifetime)
            return expires if await extend_lease(session, token, now, expires) else None

    async def release(
        self, token: str, now: datetime, error: str | None, place: Placer
    ) -> Mapping[str, Any] | None:
        async with self.turn, self.db.transaction() as session:
            if error is None:
                row = await release_completed(session, token, now)
            else:
                row = await release_failed(session, token, now, error)
            if row is None:
                return None
            facts = dict(row)
            priority, ready, retry = place(facts)
            await set_placement(session, int(facts["id"]), priority, ready, retry, with_retry=True)
            return facts

    async def exists(self, token: str) -> bool:
        async with self.db.read() as session:
            return await lease_exists(session, token)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


_FACTS_SQL = ", ".join(column.name for column in FACT_COLUMNS)
_LEASE_SQL = ", ".join(f"s.{column.name}" for column in LEASE_COLUMNS)
_REASON_SQL = " ".join(f"WHEN {p} THEN '{r}'" for p, r in REASONS.items())
_SPOT = ", ".join(str(t) for t in SPOT_TIERS)

# One statement claims for a batch of callers ($2..$5: one element per caller, in the order
# they asked). It locks the best candidate stores and, per company, as many free slots as it
# has candidates needing one (no more: a slot locked here is one another replica skips),
# all skipping rows that concurrent claims hold; then it occupies the slots and leases the
# stores, the best store to the first caller. A row that a claim committed meanwhile is
# re-checked under its lock, so neither a store nor a slot is ever handed out twice. A
# candidate left without a slot stays unleased; ``picked`` says how many were due at all.
_CLAIM_SQL = f"""
WITH pick AS (
    SELECT s.id, s.company, s.lease_token AS old_token, s.priority, s.ready_at
    FROM scheduling.stores s
    WHERE s.priority IS NOT NULL AND s.ready_at <= $1
      AND (s.lease_token IS NULL OR s.lease_expires_at <= $1)
      AND (s.lease_token IS NOT NULL OR EXISTS (
          SELECT 1 FROM scheduling.lease_slots l
          WHERE l.company = s.company AND l.store_pk IS NULL AND NOT l.retired))
      {{company_filter}}
    ORDER BY s.priority, s.ready_at
    LIMIT cardinality($2::varchar[])
    FOR UPDATE OF s SKIP LOCKED
), queued AS (
    SELECT id, company,
        row_number() OVER (PARTITION BY company ORDER BY priority, ready_at, id) AS nth
    FROM pick WHERE old_token IS NULL
), slot AS (
    SELECT w.company, f.slot, row_number() OVER (PARTITION BY w.company ORDER BY f.slot) AS nth
    FROM (SELECT company, count(*) AS wanted FROM queued GROUP BY company) w
    CROSS JOIN LATERAL (
        SELECT l.slot FROM scheduling.lease_slots l
        WHERE l.company = w.company AND l.store_pk IS NULL AND NOT l.retired
        LIMIT w.wanted
        FOR UPDATE OF l SKIP LOCKED
    ) f
), take AS (
    UPDATE scheduling.lease_slots l SET store_pk = q.id
    FROM slot JOIN queued q ON q.company = slot.company AND q.nth = slot.nth
    WHERE l.company = slot.company AND l.slot = slot.slot
    RETURNING l.store_pk AS id, l.slot
), chosen AS (
    -- A store whose lease expired keeps the slot it occupies: it passes to the new holder.
    SELECT p.id, take.slot, row_number() OVER (ORDER BY p.priority, p.ready_at, p.id) AS nth
    FROM pick p LEFT JOIN take ON take.id = p.id
    WHERE p.old_token IS NOT NULL OR take.id IS NOT NULL
), leased AS (
    UPDATE scheduling.stores s SET
        lease_token = r.token, lease_holder = r.holder, lease_granted_at = r.now,
        lease_expires_at = r.expires, lease_heartbeat_at = r.now,
        lease_kind = CASE WHEN s.priority IN ({_SPOT}) THEN 'spot' ELSE 'full' END,
        lease_reason = CASE s.priority {_REASON_SQL} ELSE 'due' END,
        spot_rotation = s.spot_rotation + CASE WHEN s.priority IN ({_SPOT}) THEN 1 ELSE 0 END,
        ready_at = r.expires, lease_slot = coalesce(c.slot, s.lease_slot)
    FROM chosen c
    JOIN unnest($2::varchar[], $3::varchar[], $4::timestamptz[], $5::timestamptz[])
        WITH ORDINALITY AS r(token, holder, now, expires, nth) ON r.nth = c.nth
    WHERE s.id = c.id
    RETURNING c.nth, {_LEASE_SQL}
)
SELECT p.picked, leased.* FROM (SELECT count(*) AS picked FROM pick) p LEFT JOIN leased ON true
"""
_CLAIM_ANY_SQL = _CLAIM_SQL.format(company_filter="")
_CLAIM_SOME_SQL = _CLAIM_SQL.format(company_filter="AND s.company = ANY($6::varchar[])")

_EXTEND_SQL = """
UPDATE scheduling.stores SET
    lease_expires_at = LEAST($2 + $3::interval, lease_granted_at + $4::interval),
    ready_at = LEAST($2 + $3::interval, lease_granted_at + $4::interval),
    lease_heartbeat_at = $2
WHERE lease_token = $1 AND lease_expires_at > $2
RETURNING lease_expires_at
"""

# Ending leases takes two round trips and no explicit transaction, for a batch of callers
# at once: read the leases' stores (``xmin`` names the row version read), place them in
# Python, then write each outcome and placement only if its row is still that version (the
# slots are freed in the same statement). A store changed in between (an event applied) is
# read again under a row lock.
_LIVE_SQL = f"""
SELECT r.nth, s.xmin AS version, {", ".join(f"s.{c.name}" for c in FACT_COLUMNS)},
    s.lease_granted_at, s.lease_kind, s.lease_slot
FROM unnest($1::varchar[], $2::timestamptz[]) WITH ORDINALITY AS r(token, now, nth)
JOIN scheduling.stores s ON s.lease_token = r.token AND s.lease_expires_at > r.now
"""
_LIVE_LOCKED_SQL = f"""
SELECT xmin AS version, {_FACTS_SQL}, lease_granted_at, lease_kind, lease_slot
FROM scheduling.stores WHERE lease_token = $1 AND lease_expires_at > $2
FOR UPDATE
"""
_END_SQL = """
WITH ended AS (
    UPDATE scheduling.stores s SET
        lease_token = NULL, lease_holder = NULL, lease_granted_at = NULL,
        lease_expires_at = NULL, lease_heartbeat_at = NULL, lease_reason = NULL,
        last_completed_at = a.completed_at, last_completed_kind = a.completed_kind,
        attempts = a.attempts, last_error = a.last_error,
        priority = a.priority, ready_at = a.ready_at, retry_after = a.retry_after,
        lease_slot = NULL
    FROM unnest(
        $1::bigint[], $2::xid[], $3::timestamptz[], $4::varchar[], $5::int[], $6::text[],
        $7::smallint[], $8::timestamptz[], $9::timestamptz[], $10::int[]
    ) AS a(id, version, completed_at, completed_kind, attempts, last_error, priority, ready_at,
        retry_after, slot)
    WHERE s.id = a.id AND s.xmin = a.version
    RETURNING s.id, s.company, a.slot
), freed AS (
    -- By key; a lease granted without its slot recorded frees the slot its store holds.
    UPDATE scheduling.lease_slots l SET store_pk = NULL
    FROM ended
    WHERE l.company = ended.company AND l.store_pk = ended.id
      AND (l.slot = ended.slot OR ended.slot IS NULL)
)
SELECT id FROM ended
"""


def _ended_lease(row: Mapping[str, Any], error: str | None) -> dict[str, Any]:
    """The facts of a leased store once its lease ends: completed (``error`` None) or failed.

    A completed scrape is as fresh as when it started: a rescrape asked for meanwhile stands.
    """
    facts = {**row, **_CLEARED_LEASE}
    if error is None:
        facts["last_completed_at"] = row["lease_granted_at"]
        facts["last_completed_kind"] = row["lease_kind"]
        facts.update(attempts=0, last_error=None, retry_after=None)
    else:
        facts.update(attempts=int(row["attempts"]) + 1, last_error=error)
    return facts


@dataclass(frozen=True)
class _ClaimAsk:
    token: str
    holder: str
    now: datetime
    expires: datetime


@dataclass(frozen=True)
class _EndAsk:
    token: str
    now: datetime
    error: str | None
    place: Placer


@dataclass(frozen=True)
class _Ending:
    """A lease about to end: the store's facts after, and the arguments of its write."""

    facts: dict[str, Any]
    write: tuple[Any, ...]


def _ending(row: Mapping[str, Any], ask: _EndAsk) -> _Ending:
    facts = _ended_lease(row, ask.error)
    priority, ready, retry = ask.place(facts)
    outcome = (facts["last_completed_at"], facts["last_completed_kind"], facts["attempts"])
    placed = (facts["last_error"], priority, ready, retry, row["lease_slot"])
    write = (row["id"], row["version"], *outcome, *placed)
    return _Ending(facts, write)


async def _write_ends(conn: asyncpg.Connection, endings: Sequence[_Ending]) -> set[int]:
    """Ids of the stores whose leases ended: those still at the row version read."""
    # In id order, like every bulk update here: concurrent writers never lock in a cycle.
    columns = [list(c) for c in zip(*sorted(e.write for e in endings), strict=True)]
    try:
        return {int(r["id"]) for r in await conn.fetch(_END_SQL, *columns)}
    except asyncpg.DeadlockDetectedError:
        return set()  # each is ended on its own, under its row lock


async def _end_locked(conn: asyncpg.Connection, ask: _EndAsk) -> Mapping[str, Any] | None:
    """End one lease with its store locked, so nothing changes it between read and write."""
    async with conn.transaction():
        row = await conn.fetchrow(_LIVE_LOCKED_SQL, ask.token, ask.now)
        if row is None:
            return None
        ending = _ending(row, ask)
        if not await _write_ends(conn, [ending]):
            raise RuntimeError("a locked store changed")
        return ending.facts


async def _end_batch(
    conn: asyncpg.Connection, asks: Sequence[_EndAsk]
) -> list[Mapping[str, Any] | None]:
    """End the leases ``asks`` name: for each, the store's facts after, or None if stale."""
    rows = await conn.fetch(_LIVE_SQL, [a.token for a in asks], [a.now for a in asks])
    endings: dict[int, _Ending] = {}
    stores_read: set[int] = set()
    for row in sorted(rows, key=lambda r: int(r["nth"])):
        # A token named twice in one batch ends its lease once; the later ask is stale.
        if row["id"] not in stores_read:
            stores_read.add(row["id"])
            endings[int(row["nth"]) - 1] = _ending(row, asks[int(row["nth"]) - 1])
    ended = await _write_ends(conn, list(endings.values())) if endings else set()
    answers: list[Mapping[str, Any] | None] = []
    for n, ask in enumerate(asks):
        ending = endings.get(n)
        if ending is None:
            answers.append(None)
        elif ending.write[0] in ended:
            answers.append(ending.facts)
        else:
            answers.append(await _end_locked(conn, ask))
    return answers


class PoolLeases:
    """Leases on Postgres straight through asyncpg: the hot path of the fleet.

    Concurrent claims (with the same company filter) are served by one statement, and
    concurrent ends of leases by one read and one write: one plan and one commit (one WAL
    flush) for the whole batch instead of one per call.
    """

    # Two batches of each kind at once: while one waits for its commit (the WAL flush), the
    # calls that arrived meanwhile need not wait for it too.
    LANES = 2

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._claims: dict[tuple[str, ...], Batcher[_ClaimAsk, Claim]] = {}
        self._ends = Batcher[_EndAsk, Mapping[str, Any] | None](self._end, lanes=self.LANES)

    async def claim(
        self,
        *,
        token: str,
        holder: str,
        now: datetime,
        expires: datetime,
        companies: Sequence[str] | None,
    ) -> Claim:
        key = tuple(sorted(set(companies or ())))
        batcher = self._claims.get(key)
        if batcher is None:
            batcher = Batcher(partial(self._claim, key), lanes=self.LANES)
            self._claims[key] = batcher
        return await batcher(_ClaimAsk(token, holder, now, expires))

    async def _claim(self, companies: tuple[str, ...], asks: Sequence[_ClaimAsk]) -> list[Claim]:
        args: list[Any] = [
            max(a.now for a in asks),
            [a.token for a in asks],
            [a.holder for a in asks],
            [a.now for a in asks],
            [a.expires for a in asks],
        ]
        if companies:
            args.append(list(companies))
        rows = await self.pool.fetch(_CLAIM_SOME_SQL if companies else _CLAIM_ANY_SQL, *args)
        leased = {int(r["nth"]) - 1: r for r in rows if r["nth"] is not None}
        # Candidates left without a slot (their company's free slots went to a concurrent
        # claim or to callers ahead in this batch): their callers may try again.
        short = int(rows[0]["picked"]) > len(leased)
        return [
            Claim(True, leased[n]) if n in leased else Claim(short, None) for n in range(len(asks))
        ]

    async def extend(
        self, token: str, now: datetime, ttl: timedelta, lifetime: timedelta
    ) -> datetime | None:
        expires: datetime | None = await self.pool.fetchval(_EXTEND_SQL, token, now, ttl, lifetime)
        return expires

    async def release(
        self, token: str, now: datetime, error: str | None, place: Placer
    ) -> Mapping[str, Any] | None:
        return await self._ends(_EndAsk(token, now, error, place))

    async def _end(self, asks: Sequence[_EndAsk]) -> list[Mapping[str, Any] | None]:
        async with self.pool.acquire() as conn:
            return await _end_batch(conn, asks)

    async def exists(self, token: str) -> bool:
        sql = "SELECT 1 FROM scheduling.stores WHERE lease_token = $1"
        return await self.pool.fetchval(sql, token) is not None


async def open_pool_leases(url: str, size: int) -> PoolLeases:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=size, reset=_keep_session)
    return PoolLeases(pool)


async def _keep_session(_: asyncpg.Connection) -> None:
    """Hand a connection back to the pool as it is.

    The pool still rolls back a transaction left open; the full reset (advisory locks,
    cursors, listeners, session settings) is a round trip per call, and the lease statements
    use none of those.
    """


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


async def due_counts(session: AsyncSession, now: datetime) -> list[tuple[Any, ...]]:
    query = (
        select(S.company, S.priority, func.count())
        .where(
            S.priority.is_not(None),
            S.ready_at <= now,
            or_(S.lease_token.is_(None), S.lease_expires_at <= now),
        )
        .group_by(S.company, S.priority)
    )
    return [tuple(row) for row in await session.execute(query)]


async def lease_counts(session: AsyncSession, now: datetime) -> list[tuple[Any, ...]]:
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
    return [tuple(row) for row in await session.execute(query)]


async def refresh_probing(
    session: AsyncSession, company: str, *, trial: int, min_member_share: float
) -> list[int]:
    """Decide whether new stores of ``company`` are probed first, or wait; ids of stores
    that changed.

    Probing needs a fully scraped store to compare with. Once ``trial`` stores are decided
    (a member, however it was scraped, or a store with a full scrape of its own) it goes on
    only while at least ``min_member_share`` of them are members: where stores price
    independently (IGA), a probe never places a store and is pure cost. A probe still
    waiting for grouping is not decided either way, and grouping may take a while to place
    it (a store left alone is known so only when its grace has passed and it is fully
    scraped): while the probes out would complete the trial, new stores are held, lest
    the whole company be probed before the trial is decided."""
    full = S.last_scraped_at.is_not(None)
    member = S.role == "member"
    probing = and_(S.last_spot_at.is_not(None), S.last_scraped_at.is_(None), S.role != "member")
    counts = select(
        func.count().filter(full),
        func.count().filter(or_(member, full)),
        func.count().filter(member),
        func.count().filter(probing),
    ).where(S.company == company)
    scraped, decided, members, out = (int(v) for v in (await session.execute(counts)).one())
    on_trial = decided < trial
    ready = scraped > 0 and (on_trial or members >= min_member_share * decided)
    held = ready and on_trial and decided + out >= trial
    result = await session.execute(
        update(stores)
        .where(
            S.company == company,
            or_(S.company_ready.is_not(ready), S.company_held.is_not(held)),
        )
        .values(company_ready=ready, company_held=held)
        .returning(S.id)
    )
    return [int(r) for r in result.scalars().all()]
