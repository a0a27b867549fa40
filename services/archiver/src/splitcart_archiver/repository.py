"""All SQL of the archiver: reads of ``catalog`` and ``grouping`` (read-only) and the
``archive`` schema's dirty list and manifest."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from splitcart_shared.clock import utc
from sqlalchemy import (
    Select,
    and_,
    case,
    delete,
    func,
    literal_column,
    or_,
    select,
    union,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from splitcart_archiver import models, sources
from splitcart_archiver.history import Period

# A history row as streamed: a driver record or a list, in ``HistoryRow`` layout.
Row = Sequence[Any]

# SQLite allows 32,766 bound parameters; stay far below it.
_IN_CHUNK = 1_000


def _is_sqlite(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _plain(row: Any) -> dict[str, Any]:
    """A row mapping as a dict with plain ``str`` keys (orjson refuses str subclasses such
    as SQLAlchemy's ``quoted_name``)."""
    return {str(key): value for key, value in row.items()}


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


# --- catalog: companies, stores, products -------------------------------------------------


async def company_names(session: AsyncSession, company: str | None = None) -> list[str]:
    c = sources.companies
    query = select(c.c.company).order_by(c.c.company)
    if company is not None:
        query = query.where(c.c.company == company)
    return list((await session.execute(query)).scalars())


async def company_row(session: AsyncSession, company: str) -> dict[str, Any] | None:
    c = sources.companies
    row = (await session.execute(select(c).where(c.c.company == company))).mappings().first()
    return _plain(row) if row is not None else None


async def divisions(session: AsyncSession, company: str) -> list[dict[str, Any]]:
    d, s = sources.divisions, sources.stores
    query = (
        select(d.c.name, func.count(s.c.id).label("store_count"))
        .outerjoin(s, s.c.division_id == d.c.id)
        .where(d.c.company == company)
        .group_by(d.c.id, d.c.name)
        .order_by(d.c.name)
    )
    return [_plain(r) for r in (await session.execute(query)).mappings()]


def _store_query() -> Select[Any]:
    s, d = sources.stores, sources.divisions
    m, g = sources.memberships, sources.groups
    return (
        select(
            s,
            d.c.name.label("division"),
            m.c.group_id,
            m.c.role,
            g.c.anchor_store_id,
        )
        .outerjoin(d, d.c.id == s.c.division_id)
        .outerjoin(m, (m.c.company == s.c.company) & (m.c.store_id == s.c.store_id))
        .outerjoin(g, g.c.id == m.c.group_id)
    )


async def stream_stores(
    session: AsyncSession, company: str, chunk: int
) -> AsyncIterator[dict[str, Any]]:
    """The company's stores (with division and current group), by state then store id."""
    s = sources.stores
    query = _store_query().where(s.c.company == company).order_by(s.c.state, s.c.store_id)
    result = await session.stream(query.execution_options(yield_per=chunk))
    async for row in result.mappings():
        yield _plain(row)


async def store_row(session: AsyncSession, company: str, store_id: str) -> dict[str, Any] | None:
    s = sources.stores
    query = _store_query().where(s.c.company == company, s.c.store_id == store_id)
    row = (await session.execute(query)).mappings().first()
    return _plain(row) if row is not None else None


async def store_ids(session: AsyncSession, company: str) -> list[str]:
    s = sources.stores
    query = select(s.c.store_id).where(s.c.company == company).order_by(s.c.store_id)
    return list((await session.execute(query)).scalars())


async def store_pks(session: AsyncSession, company: str, ids: Iterable[str]) -> dict[str, int]:
    s = sources.stores
    query = select(s.c.store_id, s.c.id).where(s.c.company == company, s.c.store_id.in_(set(ids)))
    return {row.store_id: int(row.id) for row in await session.execute(query)}


def _product_query() -> Select[Any]:
    p = sources.products
    return select(
        p.c.id,
        p.c.sku,
        p.c.name,
        p.c.brand,
        p.c.size,
        p.c.barcode,
        p.c.category_path,
        p.c.url,
        p.c.image_url,
    )


async def stream_products(
    session: AsyncSession, company: str, chunk: int
) -> AsyncIterator[dict[str, Any]]:
    p = sources.products
    query = _product_query().where(p.c.company == company)
    result = await session.stream(query.execution_options(yield_per=chunk))
    async for row in result.mappings():
        yield _plain(row)


async def products_by_id(session: AsyncSession, ids: Sequence[int]) -> list[dict[str, Any]]:
    p = sources.products
    found: list[dict[str, Any]] = []
    for start in range(0, len(ids), _IN_CHUNK):
        query = _product_query().where(p.c.id.in_(ids[start : start + _IN_CHUNK]))
        found.extend(_plain(r) for r in (await session.execute(query)).mappings())
    return found


# --- grouping: membership periods and members ----------------------------------------------


async def member_periods(session: AsyncSession, company: str, store_id: str) -> list[Period]:
    """The intervals the store inherited prices from an anchor (GROUPING.md), in order."""
    h = sources.membership_history
    query = (
        select(h.c.group_id, h.c.anchor_store_id, h.c.valid_from, h.c.valid_to)
        .where(
            h.c.company == company,
            h.c.store_id == store_id,
            h.c.role == "member",
            h.c.anchor_store_id != store_id,
        )
        .order_by(h.c.valid_from, h.c.id)
    )
    rows = await session.execute(query)
    return [
        Period(r.group_id, r.anchor_store_id, utc(r.valid_from), _aware(r.valid_to)) for r in rows
    ]


async def members_of_anchor(session: AsyncSession, company: str, anchor_store_id: str) -> list[str]:
    """Current members of the group ``anchor_store_id`` anchors (not the anchor itself)."""
    m, g = sources.memberships, sources.groups
    query = (
        select(m.c.store_id)
        .join(g, g.c.id == m.c.group_id)
        .where(g.c.company == company, g.c.anchor_store_id == anchor_store_id)
        .where(m.c.store_id != anchor_store_id)
        .order_by(m.c.store_id)
    )
    return list((await session.execute(query)).scalars())


async def group_of_stores(session: AsyncSession, company: str) -> dict[str, str]:
    """Each grouped store's current group id."""
    m = sources.memberships
    query = select(m.c.store_id, m.c.group_id).where(m.c.company == company)
    return {row.store_id: row.group_id for row in await session.execute(query)}


async def members_of_group(session: AsyncSession, group_id: str) -> list[str]:
    m = sources.memberships
    query = select(m.c.store_id).where(m.c.group_id == group_id).order_by(m.c.store_id)
    return list((await session.execute(query)).scalars())


# --- catalog: price history of one store, streamed ----------------------------------------


@dataclass(frozen=True)
class HistorySource:
    """The rows of ``store_pk``; only those starting before ``before`` when given."""

    store_pk: int
    before: datetime | None = None


def history_last_seen(store_pk: int) -> Any:
    """``last_seen`` of a row of ``store_pk``: the latest scrape that listed its values. A full
    scrape stamps only its store, so a listed row was also seen by the store's latest one."""
    h, s = sources.price_history, sources.stores
    last_full = select(s.c.last_full_scrape_at).where(s.c.id == store_pk).scalar_subquery()
    return case((and_(h.c.listed, last_full > h.c.last_seen), last_full), else_=h.c.last_seen)


def _history_query(history: Sequence[HistorySource], ids: tuple[int, int] | None) -> Any:
    """One UNION ALL over the sources, ordered by (product_id, valid_from): each branch is
    an index range scan in that order, so Postgres merges them without sorting."""
    h = sources.price_history
    branches = []
    for src, source in enumerate(history):
        branch = select(
            h.c.product_id,
            literal_column(str(src)).label("src"),
            h.c.valid_from,
            history_last_seen(source.store_pk).label("last_seen"),
            h.c.price_cents,
            h.c.was_price_cents,
            h.c.unit_price_cents,
            h.c.unit_measure,
            h.c.on_special,
            h.c.available,
        ).where(h.c.store_pk == source.store_pk)
        if source.before is not None:
            branch = branch.where(h.c.valid_from < source.before)
        if ids is not None:
            branch = branch.where(h.c.product_id.between(*ids))
        branches.append(branch)
    return union_all(*branches).order_by(literal_column("product_id"), literal_column("valid_from"))


async def product_ids(session: AsyncSession, history: Sequence[HistorySource]) -> list[int]:
    """Every product with at least one row in ``history``, ascending."""
    h = sources.price_history
    if len(history) == 1:
        (source,) = history
        query = select(h.c.product_id).distinct().where(h.c.store_pk == source.store_pk)
        if source.before is not None:
            query = query.where(h.c.valid_from < source.before)
        return list((await session.execute(query.order_by(h.c.product_id))).scalars())
    branches = []
    for source in history:
        branch = select(h.c.product_id).distinct().where(h.c.store_pk == source.store_pk)
        if source.before is not None:
            branch = branch.where(h.c.valid_from < source.before)
        branches.append(branch)
    found = (await session.execute(union(*branches))).scalars()
    return sorted({int(i) for i in found})  # a lone branch is not de-duplicated by UNION


async def stream_history(
    session: AsyncSession, history: Sequence[HistorySource], ids: Sequence[int], chunk: int
) -> AsyncIterator[list[Row]]:
    """``history``'s rows (``HistoryRow`` layout) ordered by (product_id, valid_from), in
    batches, never all in memory.

    Postgres streams one query through a server-side cursor of the asyncpg connection
    itself (the rows are the hot path: driver records skip SQLAlchemy's row processing);
    SQLite reads ranges of ``chunk`` products, ``ids`` giving the range bounds.
    """
    if _is_sqlite(session):
        async for rows in _chunked_history(session, history, ids, chunk):
            yield rows
        return
    driver = await _asyncpg(session)
    compiled = _history_query(history, None).compile(dialect=session.get_bind().dialect)
    params = [compiled.params[name] for name in compiled.positiontup or ()]
    cursor = await driver.cursor(str(compiled), *params)
    while records := await cursor.fetch(chunk * 5):
        yield records


async def _asyncpg(session: AsyncSession) -> Any:
    """The session's asyncpg connection, inside the session's open transaction."""
    connection = await session.connection()
    await connection.execute(select(1))  # a cursor needs the transaction begun
    raw = await connection.get_raw_connection()
    return raw.driver_connection


async def _chunked_history(
    session: AsyncSession, history: Sequence[HistorySource], ids: Sequence[int], chunk: int
) -> AsyncIterator[list[Row]]:
    for start in range(0, len(ids), chunk):
        bounds = (ids[start], ids[min(start + chunk, len(ids)) - 1])
        rows = await session.execute(_history_query(history, bounds))
        yield [(*r[:2], utc(r[2]), utc(r[3]), *r[4:]) for r in rows]


# --- archive: the dirty list ---------------------------------------------------------------


def _upsert(session: AsyncSession, table: Any) -> Any:
    return (sqlite.insert if _is_sqlite(session) else postgresql.insert)(table)


async def mark_dirty(
    session: AsyncSession, company: str, store_ids: Iterable[str], reason: str, now: datetime
) -> None:
    rows = [
        {
            "company": company,
            "store_id": store_id,
            "first_marked_at": now,
            "last_marked_at": now,
            "reason": reason,
            "marks": 1,
        }
        for store_id in sorted(set(store_ids))
    ]
    if not rows:
        return
    t = models.dirty_archives
    query = _upsert(session, t)
    query = query.on_conflict_do_update(
        index_elements=[t.c.company, t.c.store_id],
        set_={
            "last_marked_at": query.excluded.last_marked_at,
            "reason": query.excluded.reason,
            "marks": t.c.marks + 1,
        },
    )
    await session.execute(query, rows)


async def dirty(session: AsyncSession, company: str | None = None) -> list[dict[str, Any]]:
    t = models.dirty_archives
    query = select(t).order_by(t.c.company, t.c.store_id)
    if company is not None:
        query = query.where(t.c.company == company)
    return [_plain(r) for r in (await session.execute(query)).mappings()]


async def due(
    session: AsyncSession, quiet_since: datetime, marked_before: datetime, limit: int
) -> list[dict[str, Any]]:
    """Dirty archives whose last mark is older than ``quiet_since`` or whose first mark is
    older than ``marked_before``, oldest first."""
    t = models.dirty_archives
    query = (
        select(t)
        .where(or_(t.c.last_marked_at <= quiet_since, t.c.first_marked_at <= marked_before))
        .order_by(t.c.first_marked_at, t.c.company, t.c.store_id)
        .limit(limit)
    )
    return [_plain(r) for r in (await session.execute(query)).mappings()]


async def dirty_marks(session: AsyncSession, company: str, store_id: str) -> int | None:
    t = models.dirty_archives
    query = select(t.c.marks).where(t.c.company == company, t.c.store_id == store_id)
    marks = (await session.execute(query)).scalar_one_or_none()
    return None if marks is None else int(marks)


async def clear_dirty(session: AsyncSession, company: str, store_id: str, marks: int) -> None:
    """Forget a dirty mark, unless another mark arrived since ``marks`` was read."""
    t = models.dirty_archives
    await session.execute(
        delete(t).where(t.c.company == company, t.c.store_id == store_id, t.c.marks == marks)
    )


# --- archive: the manifest -----------------------------------------------------------------


async def record_manifest(session: AsyncSession, entry: dict[str, Any]) -> None:
    t = models.manifest
    query = _upsert(session, t).values(**entry)
    query = query.on_conflict_do_update(
        index_elements=[t.c.company, t.c.store_id],
        set_={
            k: query.excluded[k] for k in ("path", "sha256", "bytes", "products", "generated_at")
        },
    )
    await session.execute(query)


async def manifest(session: AsyncSession, company: str | None = None) -> list[dict[str, Any]]:
    t = models.manifest
    query = select(t).order_by(t.c.company, t.c.store_id)
    if company is not None:
        query = query.where(t.c.company == company)
    return [_plain(r) for r in (await session.execute(query)).mappings()]


async def manifest_entry(
    session: AsyncSession, company: str, store_id: str
) -> dict[str, Any] | None:
    t = models.manifest
    query = select(t).where(t.c.company == company, t.c.store_id == store_id)
    row = (await session.execute(query)).mappings().first()
    return _plain(row) if row is not None else None
