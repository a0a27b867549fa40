"""All SQL of the grouper: its own ``grouping`` tables and read-only reads of ``catalog``.

Nothing here commits: the caller's transaction (one message, one request, one round) does.
"""

from __future__ import annotations

import bisect
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from splitcart_shared.clock import utc
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    and_,
    case,
    cast,
    delete,
    extract,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from splitcart_grouper.catalog import (
    catalog_companies,
    current_prices,
    observed_at,
    price_history,
    products,
    stores,
)
from splitcart_grouper.models import (
    dirty_stores,
    evidence,
    groups,
    membership_history,
    memberships,
    regroup_jobs,
)

Row = dict[str, Any]
PRICE_COLUMNS = 4  # store_pk, product_id, price_cents, observed_at (Unix seconds)
PriceRows = npt.NDArray[np.int64]
_FETCH_CHUNK = 100_000
_IN_CHUNK = 500  # bound parameter lists (SQLite allows ~32k variables per statement)


def _dialect(session: AsyncSession) -> str:
    return str(session.get_bind().dialect.name)


def _insert(session: AsyncSession, table: Any) -> postgresql.Insert | sqlite.Insert:
    """A dialect insert, so ``on_conflict_*`` is available on both backends."""
    if _dialect(session) == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _chunks(values: Sequence[Any], size: int = _IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _unix_seconds(session: AsyncSession, column: Any) -> ColumnElement[int]:
    # Whole seconds in SQL: converting millions of datetimes in Python would dominate a load.
    if _dialect(session) == "postgresql":
        return cast(func.floor(extract("epoch", column)), BigInteger)
    return cast(func.strftime("%s", column), Integer)


# --- catalog (read-only) ---------------------------------------------------------------


async def company_known(session: AsyncSession, company: str) -> bool:
    in_companies = select(catalog_companies.c.company).where(catalog_companies.c.company == company)
    in_stores = select(stores.c.id).where(stores.c.company == company).limit(1)
    if await session.scalar(in_companies) is not None:
        return True
    return await session.scalar(in_stores) is not None


async def catalog_stores(session: AsyncSession, company: str) -> dict[int, str]:
    """Every store of a company the catalog knows: surrogate key -> chain id."""
    rows = await session.execute(
        select(stores.c.id, stores.c.store_id).where(stores.c.company == company)
    )
    return {int(pk): str(sid) for pk, sid in rows}


async def catalog_store(session: AsyncSession, company: str, store_id: str) -> Row | None:
    query = select(stores.c.id, stores.c.last_scraped_at).where(
        stores.c.company == company, stores.c.store_id == store_id
    )
    row = (await session.execute(query)).mappings().first()
    return dict(row) if row else None


def _priced_rows(session: AsyncSession) -> Any:
    # Merge-joined with stores along the primary key: the rows stay in (store_pk, product_id)
    # order without a sort.
    return (
        select(
            current_prices.c.store_pk,
            current_prices.c.product_id,
            current_prices.c.price_cents,
            _unix_seconds(session, observed_at()),
        )
        .join(stores, stores.c.id == current_prices.c.store_pk)
        .where(current_prices.c.delisted.is_(False), current_prices.c.price_cents.is_not(None))
    )


def _as_array(rows: Sequence[Any]) -> PriceRows:
    if not rows:
        return np.empty((0, PRICE_COLUMNS), np.int64)
    return np.array([tuple(r) for r in rows], dtype=np.int64).reshape(-1, PRICE_COLUMNS)


async def company_price_rows(session: AsyncSession, company: str) -> AsyncIterator[PriceRows]:
    """The company's listed, priced observations in chunks of
    ``[store_pk, product_id, price_cents, unix_seconds]`` rows."""
    query = (
        _priced_rows(session)
        .where(current_prices.c.company == company)
        .order_by(current_prices.c.store_pk, current_prices.c.product_id)
    )
    result = await session.stream(query.execution_options(yield_per=_FETCH_CHUNK))
    async for part in result.partitions(_FETCH_CHUNK):
        yield _as_array(part)


async def store_price_rows(session: AsyncSession, store_pks: Sequence[int]) -> PriceRows:
    """The same rows as :func:`company_price_rows` for a few stores only."""
    parts = []
    for chunk in _chunks(list(store_pks)):
        query = _priced_rows(session).where(current_prices.c.store_pk.in_(chunk))
        parts.append(_as_array((await session.execute(query)).all()))
    return np.concatenate(parts) if parts else _as_array([])


_PRODUCT_DETAILS = (products.c.sku, products.c.name, products.c.brand, products.c.size)


def _current_price_columns() -> tuple[Any, ...]:
    """A current price as the effective-price API reads it, with its product's details."""
    cp = current_prices.c
    return (
        cp.product_id,
        *_PRODUCT_DETAILS,
        cp.price_cents,
        cp.was_price_cents,
        cp.unit_price_cents,
        cp.unit_measure,
        cp.on_special,
        cp.available,
        observed_at().label("observed_at"),
    )


async def current_price_details(
    session: AsyncSession, store_pk: int, oldest: datetime
) -> list[Row]:
    """A store's current prices (listed, priced, observed since ``oldest``) with products."""
    query = (
        select(
            *_current_price_columns(),
        )
        .join(products, products.c.id == current_prices.c.product_id)
        .join(stores, stores.c.id == current_prices.c.store_pk)
        .where(
            current_prices.c.store_pk == store_pk,
            current_prices.c.delisted.is_(False),
            current_prices.c.price_cents.is_not(None),
            observed_at() >= oldest,
        )
        .order_by(current_prices.c.product_id)
    )
    rows = (await session.execute(query)).mappings().all()
    return [{**r, "observed_at": utc(r["observed_at"])} for r in rows]


async def last_prices_while_available(
    session: AsyncSession, store_pk: int, oldest: datetime
) -> list[Row]:
    """Products the store lists now but has no price for (unavailable there), each with
    the last price the store had for it, dated when that price was last seen."""
    latest = (
        select(
            price_history.c.product_id,
            func.max(price_history.c.valid_from).label("valid_from"),
        )
        .where(price_history.c.store_pk == store_pk, price_history.c.price_cents.is_not(None))
        .group_by(price_history.c.product_id)
        .subquery()
    )
    h = price_history
    query = (
        select(
            current_prices.c.product_id,
            *_PRODUCT_DETAILS,
            h.c.price_cents,
            h.c.was_price_cents,
            h.c.unit_price_cents,
            h.c.unit_measure,
            h.c.on_special,
            current_prices.c.available,
            h.c.last_seen.label("observed_at"),
        )
        .join(products, products.c.id == current_prices.c.product_id)
        .join(stores, stores.c.id == current_prices.c.store_pk)
        .join(latest, latest.c.product_id == current_prices.c.product_id)
        .join(
            h,
            (h.c.store_pk == current_prices.c.store_pk)
            & (h.c.product_id == current_prices.c.product_id)
            & (h.c.valid_from == latest.c.valid_from),
        )
        .where(
            current_prices.c.store_pk == store_pk,
            current_prices.c.delisted.is_(False),
            current_prices.c.price_cents.is_(None),
            observed_at() >= oldest,
        )
        .order_by(current_prices.c.product_id)
    )
    rows = (await session.execute(query)).mappings().all()
    return [{**r, "observed_at": utc(r["observed_at"])} for r in rows]


async def group_store_pks(
    session: AsyncSession, company: str, group_id: str, without: Iterable[str]
) -> list[int]:
    """Catalog keys of a group's stores, less ``without``."""
    query = (
        select(stores.c.id)
        .join(
            memberships,
            and_(
                stores.c.company == memberships.c.company,
                stores.c.store_id == memberships.c.store_id,
            ),
        )
        .where(
            memberships.c.group_id == group_id,
            memberships.c.company == company,
            memberships.c.store_id.not_in(list(without)),
        )
    )
    return [int(pk) for pk in (await session.execute(query)).scalars()]


def _listed_at(
    store_pks: Sequence[int], products: Iterable[int], since: datetime
) -> tuple[ColumnElement[bool], ...]:
    """The stores' listed current prices of ``products`` seen since ``since``."""
    return (
        current_prices.c.store_pk.in_(list(store_pks)),
        current_prices.c.product_id.in_(list(products)),
        current_prices.c.delisted.is_(False),
        observed_at() >= since,
    )


async def latest_member_rows(
    session: AsyncSession, member_pks: Sequence[int], wanted: dict[int, int], since: datetime
) -> list[Row]:
    """For each ``product_id: price_cents`` in ``wanted``, the most recently observed
    member row at that price, with its product details and store id."""
    if not wanted or not member_pks:
        return []
    query = (
        select(
            *_current_price_columns(),
            stores.c.store_id,
        )
        .join(products, products.c.id == current_prices.c.product_id)
        .join(stores, stores.c.id == current_prices.c.store_pk)
        .where(*_listed_at(member_pks, wanted, since))
        .order_by(current_prices.c.product_id, observed_at().desc(), stores.c.store_id)
    )
    latest: dict[int, Row] = {}
    for r in (await session.execute(query)).mappings():
        product = int(r["product_id"])
        if product not in latest and r["price_cents"] == wanted[product]:
            latest[product] = {**r, "observed_at": utc(r["observed_at"])}
    return [latest[p] for p in sorted(latest)]


async def member_prices_against_anchor(
    session: AsyncSession,
    anchor_pk: int,
    member_pks: Sequence[int],
    since: datetime,
    grace: timedelta = timedelta(0),
) -> list[Row]:
    """How the group's members were seen pricing the anchor's products, each sighting set
    against the anchor's own price at that moment (its price history): per (product,
    member price, anchor price then), how many members. Sightings older than ``since`` and
    moments the anchor had no price for do not count; a sighting made before the anchor's
    first row for the product counts against that row when it came within ``grace`` after
    it (a store is often probed before its group's anchor is first scraped, the same
    day)."""
    if not member_pks:
        return []
    cp = current_prices.c
    seen = observed_at().label("observed_at")
    sightings = (
        await session.execute(
            select(cp.product_id, cp.price_cents, seen)
            .select_from(current_prices.join(stores, stores.c.id == cp.store_pk))
            .where(
                cp.store_pk.in_(list(member_pks)),
                cp.delisted.is_(False),
                cp.price_cents.is_not(None),
                observed_at() >= since,
            )
        )
    ).all()
    h = price_history.c
    history: dict[int, list[tuple[datetime, int | None]]] = {}
    rows = await session.execute(
        select(h.product_id, h.valid_from, h.price_cents)
        .where(h.store_pk == anchor_pk)
        .order_by(h.product_id, h.valid_from)
    )
    for product, valid_from, cents in rows.all():
        history.setdefault(int(product), []).append((utc(valid_from), cents))
    tallies: dict[tuple[int, int, int], int] = {}
    for product, cents, at in sightings:
        anchor = _price_then(history.get(int(product), []), utc(at), grace)
        if anchor is not None:
            key = (int(product), int(cents), anchor)
            tallies[key] = tallies.get(key, 0) + 1
    return [
        {"product_id": p, "price_cents": c, "anchor_cents": a, "stores": n}
        for (p, c, a), n in sorted(tallies.items())
    ]


def _price_then(
    history: list[tuple[datetime, int | None]], at: datetime, grace: timedelta
) -> int | None:
    """The price in force at ``at`` in a store's ``(valid_from, cents)`` history (ascending;
    None: no price then); before the first row, the first if it came within ``grace``."""
    if not history:
        return None
    index = bisect.bisect_right(history, at, key=lambda row: row[0])
    if index:
        return history[index - 1][1]
    first_at, first = history[0]
    return first if first_at - at <= grace else None


async def fully_scraped_since(
    session: AsyncSession, store_pks: Sequence[int], since: datetime
) -> list[int]:
    """The stores, of ``store_pks``, with a full scrape since ``since``."""
    if not store_pks:
        return []
    query = select(stores.c.id).where(
        stores.c.id.in_(list(store_pks)), stores.c.last_full_scrape_at >= since
    )
    return [int(pk) for pk in (await session.execute(query)).scalars()]


async def groups_of(session: AsyncSession, company: str, store_ids: Sequence[str]) -> list[str]:
    """The groups the stores are in."""
    if not store_ids:
        return []
    query = (
        select(memberships.c.group_id)
        .where(memberships.c.company == company, memberships.c.store_id.in_(list(store_ids)))
        .distinct()
    )
    return [str(g) for g in (await session.execute(query)).scalars()]


async def line_witnesses(
    session: AsyncSession, member_pks: Sequence[int], wanted: dict[int, int], since: datetime
) -> list[Row]:
    """Per member seen since ``since`` at the price ``wanted`` names for a product: its
    store id, on how many of those products, and when it was last seen at one."""
    if not wanted or not member_pks:
        return []
    query = (
        select(
            stores.c.store_id,
            current_prices.c.product_id,
            current_prices.c.price_cents,
            observed_at().label("observed_at"),
        )
        .join(stores, stores.c.id == current_prices.c.store_pk)
        .where(*_listed_at(member_pks, wanted, since))
    )
    seen: dict[str, Row] = {}
    for r in (await session.execute(query)).mappings():
        if r["price_cents"] != wanted[int(r["product_id"])]:
            continue
        at = utc(r["observed_at"])
        row = seen.setdefault(r["store_id"], {"store_id": r["store_id"], "lines": 0, "at": at})
        row["lines"] += 1
        row["at"] = max(row["at"], at)
    return sorted(seen.values(), key=lambda r: r["store_id"])


# --- grouping state ----------------------------------------------------------------------


async def company_groups(session: AsyncSession, company: str) -> list[Row]:
    query = select(groups).where(groups.c.company == company)
    return [dict(r) for r in (await session.execute(query)).mappings()]


async def company_memberships(session: AsyncSession, company: str) -> list[Row]:
    query = select(memberships).where(memberships.c.company == company)
    return [dict(r) for r in (await session.execute(query)).mappings()]


async def insert_groups(session: AsyncSession, rows: list[Row]) -> None:
    if rows:
        await session.execute(insert(groups), rows)


async def update_group_anchors(session: AsyncSession, rows: list[Row]) -> None:
    """Rows of ``id``, ``anchor_store_id``, ``updated_at``."""
    for row in rows:
        await session.execute(
            update(groups)
            .where(groups.c.id == row["id"])
            .values(anchor_store_id=row["anchor_store_id"], updated_at=row["updated_at"])
        )


async def delete_groups(session: AsyncSession, group_ids: Sequence[str]) -> None:
    for chunk in _chunks(list(group_ids)):
        await session.execute(delete(groups).where(groups.c.id.in_(chunk)))


async def upsert_memberships(session: AsyncSession, rows: list[Row]) -> None:
    if not rows:
        return
    stmt = _insert(session, memberships)
    keys = [c.name for c in memberships.columns if c.name not in ("company", "store_id")]
    upsert = stmt.on_conflict_do_update(
        index_elements=["company", "store_id"], set_={k: stmt.excluded[k] for k in keys}
    )
    await session.execute(upsert, rows)


async def close_history(
    session: AsyncSession, company: str, store_ids: Sequence[str], at: datetime
) -> None:
    for chunk in _chunks(list(store_ids)):
        await session.execute(
            update(membership_history)
            .where(
                membership_history.c.company == company,
                membership_history.c.store_id.in_(chunk),
                membership_history.c.valid_to.is_(None),
            )
            .values(valid_to=at)
        )


async def open_history(session: AsyncSession, rows: list[Row]) -> None:
    if rows:
        await session.execute(insert(membership_history), rows)


async def insert_evidence(session: AsyncSession, rows: list[Row]) -> None:
    if rows:
        await session.execute(insert(evidence), rows)


# --- dirty stores ---------------------------------------------------------------------

_KIND_RANK = {"discovered": 0, "spot": 1, "full": 2}


async def mark_dirty(session: AsyncSession, rows: list[Row]) -> None:
    """Rows of ``company, store_id, kind, mark, marked_at``; a stronger pending kind
    (``full`` over ``spot`` over ``discovered``) is never downgraded."""
    if not rows:
        return
    stmt = _insert(session, dirty_stores)
    new = stmt.excluded
    rank_old = case(_KIND_RANK, value=dirty_stores.c.kind, else_=0)
    rank_new = case(_KIND_RANK, value=new.kind, else_=0)
    upsert = stmt.on_conflict_do_update(
        index_elements=["company", "store_id"],
        set_={
            "kind": case((rank_new >= rank_old, new.kind), else_=dirty_stores.c.kind),
            "mark": new.mark,
            "marked_at": new.marked_at,
        },
    )
    for chunk in _chunks(rows):
        await session.execute(upsert, list(chunk))


async def dirty_companies(session: AsyncSession) -> list[str]:
    query = select(dirty_stores.c.company).distinct().order_by(dirty_stores.c.company)
    return [str(c) for c in await session.scalars(query)]


async def dirty_of(session: AsyncSession, company: str) -> list[Row]:
    query = select(dirty_stores).where(dirty_stores.c.company == company)
    return [dict(r) for r in (await session.execute(query)).mappings()]


async def clear_dirty(
    session: AsyncSession, company: str, marks: Sequence[tuple[str, str]]
) -> None:
    """Delete ``(store_id, mark)`` rows; a store marked again since keeps its newer row."""
    for chunk in _chunks(list(marks)):
        await session.execute(
            delete(dirty_stores).where(
                dirty_stores.c.company == company,
                tuple_(dirty_stores.c.store_id, dirty_stores.c.mark).in_(list(chunk)),
            )
        )


# --- API reads ------------------------------------------------------------------------


async def group_summaries(
    session: AsyncSession, company: str, limit: int, offset: int
) -> list[Row]:
    size = (
        select(func.count())
        .where(memberships.c.group_id == groups.c.id)
        .correlate(groups)
        .scalar_subquery()
    )
    query = (
        select(groups, size.label("size"), stores.c.last_scraped_at.label("anchor_last_scraped_at"))
        .outerjoin(
            stores,
            and_(
                stores.c.company == groups.c.company, stores.c.store_id == groups.c.anchor_store_id
            ),
        )
        .where(groups.c.company == company)
        .order_by(size.desc(), groups.c.anchor_store_id)
        .limit(limit)
        .offset(offset)
    )
    return [dict(r) for r in (await session.execute(query)).mappings()]


async def counts_by_company(session: AsyncSession) -> dict[str, dict[str, int]]:
    """Per company: groups, grouped stores and stores waiting for a round."""
    out: dict[str, dict[str, int]] = {}
    for name, table in (("groups", groups), ("stores", memberships), ("dirty", dirty_stores)):
        query = select(table.c.company, func.count()).group_by(table.c.company)
        for company, n in await session.execute(query):
            out.setdefault(str(company), {"groups": 0, "stores": 0, "dirty": 0})[name] = int(n)
    return dict(sorted(out.items()))


async def count_groups(session: AsyncSession, company: str) -> int:
    return int(await session.scalar(select(func.count()).where(groups.c.company == company)) or 0)


async def group(session: AsyncSession, group_id: str) -> Row | None:
    row = (await session.execute(select(groups).where(groups.c.id == group_id))).mappings().first()
    return dict(row) if row else None


async def members_of(session: AsyncSession, group_id: str) -> list[Row]:
    query = (
        select(memberships, stores.c.last_scraped_at)
        .outerjoin(
            stores,
            and_(
                stores.c.company == memberships.c.company,
                stores.c.store_id == memberships.c.store_id,
            ),
        )
        .where(memberships.c.group_id == group_id)
        .order_by(memberships.c.role, memberships.c.store_id)
    )
    return [dict(r) for r in (await session.execute(query)).mappings()]


async def membership(session: AsyncSession, company: str, store_id: str) -> Row | None:
    query = select(memberships).where(
        memberships.c.company == company, memberships.c.store_id == store_id
    )
    row = (await session.execute(query)).mappings().first()
    return dict(row) if row else None


async def latest_evidence(
    session: AsyncSession, company: str, store_ids: Sequence[str]
) -> dict[str, Row]:
    """Each store's most recent evidence row (either side), in two statements.

    Ids grow with time, so the largest id naming a store is its latest evidence; asking
    each side separately lets both ``(company, store_x, ...)`` indexes serve it.
    """
    latest: dict[str, int] = {}
    for side in (evidence.c.store_a, evidence.c.store_b):
        for chunk in _chunks(list(store_ids)):
            query = (
                select(side, func.max(evidence.c.id))
                .where(evidence.c.company == company, side.in_(chunk))
                .group_by(side)
            )
            for store, top in await session.execute(query):
                latest[store] = max(latest.get(store, 0), int(top))
    rows: dict[int, Row] = {}
    for chunk in _chunks(sorted(set(latest.values()))):
        query = select(evidence).where(evidence.c.id.in_(chunk))
        rows.update({r["id"]: dict(r) for r in (await session.execute(query)).mappings()})
    return {store: rows[top] for store, top in latest.items()}


# --- regroup jobs ---------------------------------------------------------------------


async def insert_job(session: AsyncSession, row: Row) -> None:
    await session.execute(insert(regroup_jobs).values(**row))


async def update_job(session: AsyncSession, job_id: str, **values: Any) -> None:
    await session.execute(update(regroup_jobs).where(regroup_jobs.c.id == job_id).values(**values))


async def job(session: AsyncSession, job_id: str) -> Row | None:
    query = select(regroup_jobs).where(regroup_jobs.c.id == job_id)
    row = (await session.execute(query)).mappings().first()
    return dict(row) if row else None


async def active_job(session: AsyncSession, company: str) -> Row | None:
    query = select(regroup_jobs).where(
        regroup_jobs.c.company == company, regroup_jobs.c.status.in_(["queued", "running"])
    )
    row = (await session.execute(query.limit(1))).mappings().first()
    return dict(row) if row else None
