"""All SQL of the ingest service.

Catalogue writes are set-based: the catalogue goes into a temporary staging table (asyncpg
COPY on Postgres, one executemany on SQLite) and is compared with ``catalog`` by SQL that
writes history only for changed prices, product details only where they differ, and, for a
full scrape, nothing at all for an unchanged price (its store's stamp records it). The
statements are shared by both backends: Postgres runs them as one statement over a diff
computed once (data-modifying CTEs), SQLite runs them in turn over a temp table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from splitcart_shared.events import PRODUCT_FIELDS
from sqlalchemy import (
    BigInteger,
    CursorResult,
    Select,
    String,
    TextClause,
    and_,
    bindparam,
    delete,
    false,
    or_,
    select,
    text,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from splitcart_ingest.catalogue import PRICE_FIELDS
from splitcart_ingest.models import (
    TIMESTAMP,
    companies,
    current_prices,
    divisions,
    observed_at,
    price_history,
    price_last_seen,
    products,
    snapshots,
    stores,
)

STAGE_COLUMNS = (*PRODUCT_FIELDS, "match_key")
# What Postgres copies: the category path as JSON text, its jsonb column generated from it.
PG_STAGE_COLUMNS = tuple("category_json" if c == "category_path" else c for c in STAGE_COLUMNS)
_CHUNK = 1000
# States of a staged price against the current one; UNLISTED: a listed current price the
# (full) catalogue lacks, which only the Postgres diff holds.
SAME, CHANGED, NEW, UNLISTED = 0, 1, 2, 3
WRITTEN = f"({CHANGED}, {NEW})"  # the states whose staged values are written


@dataclass(frozen=True)
class StoreRef:
    id: int
    company: str
    store_id: str
    last_scraped_at: datetime | None
    last_full_scrape_at: datetime | None


@dataclass(frozen=True)
class NewProduct:
    sku: str
    barcode: str | None
    match_key: str


@dataclass(frozen=True)
class Candidate:
    """An existing product a new one could be linked to (same barcode or match key)."""

    key: str
    item_id: int
    company: str


@dataclass(frozen=True)
class PriceCounts:
    new: int
    changed: int
    same: int
    delisted: int


_PARAM_TYPES: dict[str, Any] = {
    "company": String(),
    "store": BigInteger(),
    "now": TIMESTAMP,
    "at": TIMESTAMP,
    "prev_full": TIMESTAMP,
}


def _sql(sql: str) -> TextClause:
    """A statement with typed parameters: Postgres must not guess a parameter's type twice,
    and SQLite stores timestamps as text in SQLAlchemy's format."""
    names = set(re.findall(r"(?<!:):(\w+)", sql))
    return text(sql).bindparams(
        *(bindparam(n, type_=t) for n, t in _PARAM_TYPES.items() if n in names)
    )


def _rowcount(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount)


def _chunks(values: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


DIFF_COLUMNS = ("product_id", "state", "old_valid_from", *PRICE_FIELDS)


def details_changed_sql(ne: str) -> str:
    return f"""(
        p.name {ne} s.name OR p.brand {ne} s.brand OR p.size {ne} s.size
        OR (s.barcode IS NOT NULL AND p.barcode {ne} s.barcode)
        OR p.category_path {ne} s.category_path OR p.url {ne} s.url
        OR p.image_url {ne} s.image_url)"""


def refresh_products_sql(ne: str) -> str:
    """Known products whose details changed; a known barcode is never forgotten."""
    return f"""
        UPDATE catalog.products AS p SET {_PRODUCT_DETAILS}, updated_at = :now
        FROM ingest_stage AS s
        WHERE p.company = :company AND p.sku = s.sku AND {details_changed_sql(ne)}
    """


def refresh_products_from_diff_sql(diff: str) -> str:
    """The same refresh for the products the diff found changed (it compared them once)."""
    return f"""
        UPDATE catalog.products AS p SET {_PRODUCT_DETAILS}, updated_at = :now
        FROM {diff} AS d, ingest_stage AS s
        WHERE d.details_changed AND p.id = d.product_id AND s.sku = p.sku
    """


_PRODUCT_DETAILS = (
    "name = s.name, brand = s.brand, size = s.size, "
    "barcode = COALESCE(s.barcode, p.barcode), category_path = s.category_path, "
    "url = s.url, image_url = s.image_url, match_key = s.match_key"
)


def diff_sql(
    ne: str, with_details: bool = False, unlisted: bool = False, unknown: bool = False
) -> str:
    """Each staged price against the store's current one: new, changed (or relisted), same.

    ``with_details`` (Postgres) also says whether the product's details changed; they are
    compared before the store's prices are joined (``OFFSET 0`` keeps the planner from
    moving the comparison up), so that join hashes narrow rows. ``unlisted`` (Postgres, a
    full scrape) adds the store's listed prices the catalogue lacks, in the same pass over
    the store's prices (a full join). ``unknown`` (Postgres) keeps the staged SKUs not yet
    in ``products``, as new prices without a ``product_id``: the one join with ``products``
    also finds them.
    """
    changed = " OR ".join(f"cp.{f} {ne} sp.{f}" for f in PRICE_FIELDS)
    staged = ", ".join(f"s.{f}" for f in PRICE_FIELDS)
    fields = ", ".join(f"sp.{f}" for f in PRICE_FIELDS)
    fence = ""
    if with_details:
        staged += f", {details_changed_sql(ne)} AS details_changed"
        fields += ", sp.details_changed"
        fence = " OFFSET 0"
    product_id, gone, where = "sp.product_id", "", ""
    prices = """LEFT JOIN catalog.current_prices AS cp
            ON cp.store_pk = :store AND cp.product_id = sp.product_id"""
    if unlisted:
        product_id = "COALESCE(sp.product_id, cp.product_id)"
        gone = f"WHEN sp.staged IS NULL THEN {UNLISTED} "
        prices = """FULL JOIN (SELECT * FROM catalog.current_prices WHERE store_pk = :store) AS cp
            ON cp.product_id = sp.product_id"""
        where = "WHERE sp.staged OR NOT cp.delisted"
    return f"""
        SELECT {product_id} AS product_id,
            CASE {gone}WHEN cp.product_id IS NULL THEN {NEW}
                WHEN cp.delisted OR {changed} THEN {CHANGED} ELSE {SAME} END AS state,
            cp.valid_from AS old_valid_from, {fields}
        FROM (
            SELECT p.id AS product_id, true AS staged, {staged} FROM ingest_stage AS s
            {"LEFT " if unknown else ""}JOIN catalog.products AS p
                ON p.company = :company AND p.sku = s.sku{fence}
        ) AS sp
        {prices}
        {where}
    """


def _seen_until(column: str) -> str:
    """A listed row's own stamp, or the store's previous full scrape when later: that scrape
    observed the row too without writing it (see ``models.observed_at``)."""
    return f"CASE WHEN :prev_full > {column} THEN :prev_full ELSE {column} END"


def open_history_sql(diff: str) -> str:
    fields = ", ".join(PRICE_FIELDS)
    d_fields = ", ".join(f"d.{f}" for f in PRICE_FIELDS)
    return f"""
        INSERT INTO catalog.price_history
            (store_pk, product_id, {fields}, valid_from, last_seen, listed)
        SELECT :store, d.product_id, {d_fields}, :at, :at, true FROM {diff} AS d
        WHERE d.state IN {WRITTEN}
    """


def unlist_history_sql(rows: str) -> str:
    """The open history rows of ``rows`` (``product_id``, ``valid_from``) stop being listed:
    their last observation is written down (a changed or delisted price)."""
    return f"""
        UPDATE catalog.price_history AS h
        SET last_seen = {_seen_until("h.last_seen")}, listed = false
        FROM {rows} AS r
        WHERE h.store_pk = :store AND h.product_id = r.product_id
            AND h.valid_from = r.valid_from AND h.listed
    """


def changed_sql(diff: str, states: str = f"({CHANGED})") -> str:
    """The open history rows of the diff's prices in ``states``."""
    return f"""(SELECT product_id, old_valid_from AS valid_from FROM {diff}
        WHERE state IN {states})"""


def upsert_current_sql(diff: str, states: str = WRITTEN) -> str:
    fields = ", ".join(PRICE_FIELDS)
    d_fields = ", ".join(f"d.{f}" for f in PRICE_FIELDS)
    refresh = ", ".join(f"{f} = excluded.{f}" for f in PRICE_FIELDS)
    return f"""
        INSERT INTO catalog.current_prices (store_pk, product_id, company, {fields},
            observed_at, first_seen, last_seen, valid_from, delisted, delisted_at)
        SELECT :store, d.product_id, :company, {d_fields}, :at, :at, :at, :at, false, NULL
        FROM {diff} AS d WHERE d.state IN {states}
        ON CONFLICT (store_pk, product_id) DO UPDATE SET {refresh},
            observed_at = excluded.observed_at, last_seen = excluded.last_seen,
            valid_from = excluded.valid_from, delisted = false, delisted_at = NULL
    """


def update_current_sql(diff: str) -> str:
    """The changed (or relisted) prices in place: unlike an upsert's update, this does not
    lock each row before writing it."""
    refresh = ", ".join(f"{f} = d.{f}" for f in PRICE_FIELDS)
    return f"""
        UPDATE catalog.current_prices AS cp SET {refresh}, observed_at = :at, last_seen = :at,
            valid_from = :at, delisted = false, delisted_at = NULL
        FROM {diff} AS d
        WHERE d.state = {CHANGED} AND cp.store_pk = :store AND cp.product_id = d.product_id
    """


def see_current_sql(diff: str) -> str:
    """Same values seen again by a spot scrape: only the observation times move."""
    return f"""
        UPDATE catalog.current_prices AS cp SET observed_at = :at, last_seen = :at
        FROM {diff} AS d
        WHERE d.state = {SAME} AND cp.store_pk = :store AND cp.product_id = d.product_id
    """


def extend_history_sql(diff: str) -> str:
    return f"""
        UPDATE catalog.price_history AS h SET last_seen = :at
        FROM {diff} AS d
        WHERE d.state = {SAME} AND h.store_pk = :store AND h.product_id = d.product_id
            AND h.valid_from = d.old_valid_from
    """


def unlisted_sql(diff: str) -> str:
    """Listed products of the store that this (full) catalogue lacks."""
    return f"""cp.store_pk = :store AND NOT cp.delisted
        AND NOT EXISTS (SELECT 1 FROM {diff} AS d WHERE d.product_id = cp.product_id)"""


def delist_sql(diff: str, from_diff: bool = False) -> str:
    """Marks the unlisted products delisted, writing down their last observation;
    ``from_diff``: the diff holds them (``UNLISTED``)."""
    unlisted = unlisted_sql(diff)
    if from_diff:
        unlisted = f"""cp.store_pk = :store AND cp.product_id = d.product_id
            AND d.state = {UNLISTED}"""
    return f"""
        UPDATE catalog.current_prices AS cp SET delisted = true, delisted_at = :at,
            observed_at = {_seen_until("cp.observed_at")}, last_seen = {_seen_until("cp.last_seen")}
        {"FROM " + diff + " AS d " if from_diff else ""}WHERE {unlisted}
    """


def price_writes(diff: str, full: bool, postgres: bool) -> list[str]:
    """The statements that apply a catalogue's diff, in an order SQLite can run them in turn
    (Postgres runs them as one statement: each sees the data as it was before).

    A full scrape observed every listed price of the store but writes only what changed and
    what it delists; its time goes to ``stores.last_full_scrape_at``. A spot scrape also
    moves the observation times of the unchanged prices it saw. On Postgres a full scrape's
    diff holds the prices to delist, whose history rows close with the changed ones.
    """
    current = [upsert_current_sql(diff)]
    if postgres:
        current = [update_current_sql(diff), upsert_current_sql(diff, f"({NEW})")]
    if full and postgres:
        closing = changed_sql(diff, f"({CHANGED}, {UNLISTED})")
        return [
            unlist_history_sql(closing),
            open_history_sql(diff),
            *current,
            delist_sql(diff, from_diff=True),
        ]
    writes = [unlist_history_sql(changed_sql(diff)), open_history_sql(diff), *current]
    if not full:
        return [*writes, see_current_sql(diff), extend_history_sql(diff)]
    unlisted = f"""(SELECT cp.product_id, cp.valid_from FROM catalog.current_prices AS cp
        WHERE {unlisted_sql(diff)})"""
    return [*writes, unlist_history_sql(unlisted), delist_sql(diff)]


_NEW_PRODUCTS = """
    SELECT s.sku, s.barcode, s.match_key FROM ingest_stage AS s
    WHERE NOT EXISTS (
        SELECT 1 FROM catalog.products AS p WHERE p.company = :company AND p.sku = s.sku)
"""


class Repository:
    """SQL over one session; never commits (the caller's transaction is the unit of work)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.postgres = session.get_bind().dialect.name == "postgresql"
        self.ne = "IS DISTINCT FROM" if self.postgres else "IS NOT"
        self.temp = "pg_temp" if self.postgres else "temp"

    async def _run(self, statement: Any, params: Any = None) -> Any:
        return await self.session.execute(statement, params)

    def _insert(self, table: Any) -> Any:
        return (pg_insert if self.postgres else sqlite_insert)(table)

    # --- companies, divisions, stores ---------------------------------------------------

    async def lock_company(self, company: str, name: str, now: datetime) -> datetime | None:
        """Ensure the company exists; its previous sweep time (serialises sweeps on Postgres)."""
        await self._run(
            self._insert(companies)
            .values(company=company, name=name, first_seen=now)
            .on_conflict_do_nothing(index_elements=["company"])
        )
        query = select(companies.c.last_swept_at).where(companies.c.company == company)
        swept: datetime | None = (await self._run(query.with_for_update())).scalar_one()
        return swept

    async def mark_swept(self, company: str, swept_at: datetime) -> None:
        await self._run(
            update(companies).where(companies.c.company == company).values(last_swept_at=swept_at)
        )

    async def upsert_divisions(
        self, company: str, names: set[str], now: datetime
    ) -> dict[str, int]:
        if names:
            rows = [{"company": company, "name": name, "first_seen": now} for name in names]
            stmt = self._insert(divisions).on_conflict_do_nothing(
                index_elements=["company", "name"]
            )
            await self._run(stmt, rows)
        query = select(divisions.c.name, divisions.c.id).where(divisions.c.company == company)
        return {name: int(id_) for name, id_ in (await self._run(query)).all()}

    async def upsert_stores(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        stmt = self._insert(stores)
        changing = (
            "name",
            "division_id",
            "address",
            "suburb",
            "state",
            "postcode",
            "latitude",
            "longitude",
            "retailer_store_id",
            "scrapable",
            "last_swept_at",
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["company", "store_id"],
            set_={
                **{col: stmt.excluded[col] for col in changing},
                "is_open": true(),
                "closed_at": None,
            },
        )
        await self._run(stmt, rows)

    async def close_missing_stores(self, company: str, seen: list[str], at: datetime) -> int:
        stmt = (
            update(stores)
            .where(stores.c.company == company, stores.c.is_open, stores.c.store_id.notin_(seen))
            .values(is_open=False, closed_at=at)
        )
        return _rowcount(await self._run(stmt))

    async def lock_store(self, company: str, store_id: str) -> StoreRef | None:
        """The store a scrape is for, locked so two scrapes of one store apply in turn."""
        s = stores.c
        query = (
            select(s.id, s.company, s.store_id, s.last_scraped_at, s.last_full_scrape_at)
            .where(s.company == company, s.store_id == store_id)
            .with_for_update()
        )
        row = (await self._run(query)).first()
        if row is None:
            return None
        return StoreRef(*row)

    async def mark_scraped(self, store_pk: int, scraped_at: datetime, full: bool) -> None:
        values = {"last_scraped_at": scraped_at}
        if full:
            values["last_full_scrape_at"] = scraped_at
        await self._run(update(stores).where(stores.c.id == store_pk).values(**values))

    # --- staging ------------------------------------------------------------------------

    def _temp_table(self, name: str, columns: str) -> str:
        suffix = " ON COMMIT DROP" if self.postgres else ""
        return f"CREATE TEMP TABLE {name} ({columns}){suffix}"

    async def _drop_temp(self, *names: str) -> None:
        tables = [f"{self.temp}.{name}" for name in names]
        if self.postgres:  # one round trip; SQLite drops one table a statement
            tables = [", ".join(tables)]
        for table in tables:
            await self._run(text(f"DROP TABLE IF EXISTS {table}"))

    async def stage_catalogue(self, chunks: Iterable[Sequence[tuple[Any, ...]]]) -> None:
        """Load the catalogue into ``ingest_stage`` (columns ``STAGE_COLUMNS``) as ``chunks``
        yields it; an error ``chunks`` raises comes out of here, once nothing is in flight.

        Postgres streams each chunk into one COPY while the next is produced (validated), so
        the server loads as the client validates. SQLite takes every chunk first.
        """
        records = [] if self.postgres else [r for chunk in chunks for r in chunk]
        await self._drop_temp("ingest_stage", "ingest_links", "ingest_diff")
        if self.postgres:
            # For this transaction only: the catalogue's hash joins fit in memory, and a
            # plan whose cost passes jit_above_cost would spend longer compiling than running.
            await self._run(
                text("SELECT set_config('work_mem', '64MB', true), set_config('jit', 'off', true)")
            )
        # Postgres parses the JSON text server-side: the driver's jsonb codec is Python code
        # called once a row.
        category = "category_path text NOT NULL"
        if self.postgres:
            category = (
                "category_json text NOT NULL, "
                "category_path jsonb GENERATED ALWAYS AS (category_json::jsonb) STORED"
            )
        columns = (
            "sku text NOT NULL, name text NOT NULL, brand text, size text, barcode text, "
            f"{category}, price_cents integer, was_price_cents integer, "
            "unit_price_cents integer, unit_measure text, on_special boolean NOT NULL, "
            "available boolean NOT NULL, url text, image_url text, match_key text NOT NULL"
        )
        await self._run(text(self._temp_table("ingest_stage", columns)))
        if self.postgres:
            await self._copy_chunks("ingest_stage", PG_STAGE_COLUMNS, chunks)
        else:
            await self._load("ingest_stage", STAGE_COLUMNS, records)

    async def _driver(self) -> Any:
        conn = await self.session.connection()
        return (await conn.get_raw_connection()).driver_connection

    async def _copy_chunks(
        self, table: str, columns: Sequence[str], chunks: Iterable[Sequence[tuple[Any, ...]]]
    ) -> None:
        """One COPY of every chunk's records. An error from ``chunks`` ends the COPY cleanly
        and is raised after it: a failed COPY would abort the transaction, and a refused
        catalogue must still be answered in it (its rows go with the temporary table)."""
        failure: list[Exception] = []

        def records() -> Iterator[tuple[Any, ...]]:
            try:
                for chunk in chunks:
                    yield from chunk
            except Exception as exc:  # raised below, once the COPY is over
                failure.append(exc)

        driver = await self._driver()
        await driver.copy_records_to_table(table, records=records(), columns=list(columns))
        if failure:
            raise failure[0]

    async def _load(
        self, table: str, columns: Sequence[str], records: list[tuple[Any, ...]]
    ) -> None:
        if not records:
            return
        if self.postgres:
            driver = await self._driver()
            await driver.copy_records_to_table(table, records=records, columns=list(columns))
            return
        conn = await self.session.connection()
        marks = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO {self.temp}.{table} ({', '.join(columns)}) VALUES ({marks})"
        await conn.exec_driver_sql(sql, records)

    # --- products -----------------------------------------------------------------------

    async def new_products(self, company: str) -> list[NewProduct]:
        rows = (await self._run(_sql(_NEW_PRODUCTS), {"company": company})).all()
        return [NewProduct(r.sku, r.barcode, r.match_key) for r in rows]

    async def candidates(self, company: str, column: str, keys: Sequence[str]) -> list[Candidate]:
        """Products of other companies whose ``column`` (barcode or match_key) is in ``keys``."""
        col = products.c[column]
        found: list[Candidate] = []
        for chunk in _chunks(sorted(set(keys))):
            query = select(col, products.c.item_id, products.c.company).where(
                col.in_(chunk), products.c.company != company, products.c.item_id.is_not(None)
            )
            found += [Candidate(r[0], int(r[1]), r[2]) for r in (await self._run(query)).all()]
        return found

    async def items_of(self, company: str, item_ids: Sequence[int]) -> set[int]:
        """Which of ``item_ids`` already hold a product of ``company``."""
        held: set[int] = set()
        for chunk in _chunks(sorted(set(item_ids))):
            query = select(products.c.item_id).where(
                products.c.company == company, products.c.item_id.in_(chunk)
            )
            held |= {int(r[0]) for r in (await self._run(query)).all()}
        return held

    async def insert_products(self, company: str, links: dict[str, int], now: datetime) -> int:
        """Insert the staged SKUs not yet known; ``links`` joins some to an existing item."""
        await self._run(
            text(self._temp_table("ingest_links", "sku text NOT NULL, item_id bigint NOT NULL"))
        )
        await self._load("ingest_links", ("sku", "item_id"), list(links.items()))
        sql = """
            INSERT INTO catalog.products (company, sku, name, brand, size, barcode,
                category_path, url, image_url, match_key, item_id, first_seen, updated_at)
            SELECT :company, s.sku, s.name, s.brand, s.size, s.barcode, s.category_path,
                s.url, s.image_url, s.match_key, l.item_id, :now, :now
            FROM ingest_stage AS s LEFT JOIN ingest_links AS l ON l.sku = s.sku
            WHERE NOT EXISTS (
                SELECT 1 FROM catalog.products AS p WHERE p.company = :company AND p.sku = s.sku)
            ORDER BY s.sku
        """
        params = {"company": company, "now": now}
        inserted = _rowcount(await self._run(_sql(sql), params))
        await self._run(
            text("UPDATE catalog.products SET item_id = id WHERE company = :c AND item_id IS NULL"),
            {"c": company},
        )
        return inserted

    async def set_barcodes(self, company: str, barcodes: dict[str, str], now: datetime) -> None:
        rows = [{"c": company, "s": sku, "b": code, "now": now} for sku, code in barcodes.items()]
        sql = f"""
            UPDATE catalog.products SET barcode = :b, updated_at = :now
            WHERE company = :c AND sku = :s AND barcode {self.ne} :b
        """
        if rows:
            await self._run(_sql(sql), rows)

    async def products_by_sku(self, company: str, skus: Sequence[str]) -> list[RowMapping]:
        found: list[RowMapping] = []
        for chunk in _chunks(sorted(set(skus))):
            query = select(products.c.id, products.c.sku, products.c.barcode, products.c.item_id)
            query = query.where(products.c.company == company, products.c.sku.in_(chunk))
            found += list((await self._run(query)).mappings().all())
        return found

    async def move_items(self, moves: dict[int, int]) -> None:
        """Set ``item_id`` of product ``id`` for every ``id: item_id`` pair."""
        if moves:
            rows = [{"pid": pid, "item": item} for pid, item in moves.items()]
            stmt = text("UPDATE catalog.products SET item_id = :item WHERE id = :pid")
            await self._run(stmt, rows)

    # --- prices -----------------------------------------------------------------------

    async def apply_prices(
        self, company: str, store: StoreRef, at: datetime, full: bool, now: datetime
    ) -> PriceCounts | None:
        """Refresh product details, then prices and history of the staged catalogue; None,
        writing nothing, while it holds SKUs not yet in ``products`` (:meth:`new_products`)."""
        params = {
            "company": company,
            "store": store.id,
            "at": at,
            "now": now,
            "prev_full": store.last_full_scrape_at,
        }
        if self.postgres:
            return await self._apply_prices_at_once(params, full)
        if await self._holds_new_products(company):
            return None
        await self._run(_sql(refresh_products_sql(self.ne)), params)
        return await self._apply_prices_stepwise(params, full)

    async def _holds_new_products(self, company: str) -> bool:
        sql = f"SELECT EXISTS ({_NEW_PRODUCTS})"
        return bool((await self._run(_sql(sql), {"company": company})).scalar_one())

    async def _apply_prices_at_once(self, params: dict[str, Any], full: bool) -> PriceCounts | None:
        """Postgres: one statement over a diff computed once. The writes read only the rows
        they write (a full scrape writes nothing for an unchanged price), and none while the
        diff holds an unknown SKU: most catalogues hold none, so the statement that compares
        the catalogue with ``products`` is also the one that looks for them."""
        writes = [refresh_products_from_diff_sql("c"), *price_writes("c", full, postgres=True)]
        ctes = ", ".join(f"w{i} AS ({sql})" for i, sql in enumerate(writes))
        diff = diff_sql(self.ne, with_details=True, unlisted=full, unknown=True)
        written = f"(d.state <> {SAME} OR d.details_changed)" if full else "true"
        sql = f"""
            WITH d AS MATERIALIZED ({diff}),
            c AS MATERIALIZED (SELECT * FROM d WHERE {written}
                AND NOT EXISTS (SELECT FROM d AS u WHERE u.product_id IS NULL)),
            {ctes}
            SELECT count(*) FILTER (WHERE d.state = {NEW}),
                count(*) FILTER (WHERE d.state = {CHANGED}),
                count(*) FILTER (WHERE d.state = {SAME}),
                count(*) FILTER (WHERE d.state = {UNLISTED}),
                count(*) FILTER (WHERE d.product_id IS NULL)
            FROM d
        """
        new, changed, same, delisted_n, unknown = (await self._run(_sql(sql), params)).one()
        if unknown:
            return None
        return PriceCounts(int(new), int(changed), int(same), int(delisted_n))

    async def _apply_prices_stepwise(self, params: dict[str, Any], full: bool) -> PriceCounts:
        """SQLite: the same statements, in turn, over a temp table holding the diff."""
        columns = (
            "product_id integer PRIMARY KEY, state integer NOT NULL, old_valid_from text, "
            "price_cents integer, was_price_cents integer, unit_price_cents integer, "
            "unit_measure text, on_special boolean NOT NULL, available boolean NOT NULL"
        )
        await self._run(text(self._temp_table("ingest_diff", columns)))
        names = ", ".join(DIFF_COLUMNS)
        await self._run(_sql(f"INSERT INTO ingest_diff ({names}) {diff_sql(self.ne)}"), params)
        query = text("SELECT state, count(*) FROM ingest_diff GROUP BY state")
        counts = {int(state): int(n) for state, n in (await self._run(query)).all()}
        for sql in price_writes("ingest_diff", full, postgres=False):
            result = await self._run(_sql(sql), params)
        delisted = _rowcount(result) if full else 0  # the delisting comes last
        return PriceCounts(
            counts.get(NEW, 0), counts.get(CHANGED, 0), counts.get(SAME, 0), delisted
        )

    async def finish_staging(self) -> None:
        """SQLite keeps temp tables until the connection closes; Postgres drops them at commit."""
        if not self.postgres:
            await self._drop_temp("ingest_stage", "ingest_links", "ingest_diff")

    # --- snapshots and replay -----------------------------------------------------------

    async def insert_snapshot(self, values: dict[str, Any]) -> None:
        await self._run(snapshots.insert().values(**values))

    async def snapshot_index(self, store_pks: Sequence[int] | None) -> list[RowMapping]:
        query = select(
            snapshots.c.id,
            snapshots.c.store_pk,
            snapshots.c.company,
            snapshots.c.store_id,
            snapshots.c.kind,
            snapshots.c.scraped_at,
            snapshots.c.product_count,
        ).order_by(snapshots.c.scraped_at, snapshots.c.id)
        if store_pks is not None:
            query = query.where(snapshots.c.store_pk.in_(store_pks))
        return list((await self._run(query)).mappings().all())

    async def snapshot_data(self, snapshot_id: int) -> bytes:
        query = select(snapshots.c.data).where(snapshots.c.id == snapshot_id)
        data: bytes = (await self._run(query)).scalar_one()
        return data

    async def store_pks(self, company: str | None, store_id: str | None) -> list[int]:
        query = select(stores.c.id).order_by(stores.c.id)
        if company:
            query = query.where(stores.c.company == company)
        if store_id:
            query = query.where(stores.c.store_id == store_id)
        return [int(r[0]) for r in (await self._run(query)).all()]

    async def forget_prices(self, store_pks: Sequence[int]) -> None:
        for chunk in _chunks(store_pks):
            await self._run(delete(price_history).where(price_history.c.store_pk.in_(chunk)))
            await self._run(delete(current_prices).where(current_prices.c.store_pk.in_(chunk)))
            await self._run(
                update(stores)
                .where(stores.c.id.in_(chunk))
                .values(last_scraped_at=None, last_full_scrape_at=None)
            )

    # --- reads for the API --------------------------------------------------------------

    def _store_query(self) -> Select[Any]:
        return select(stores, divisions.c.name.label("division")).outerjoin(
            divisions, divisions.c.id == stores.c.division_id
        )

    async def list_stores(
        self, filters: list[Any], limit: int | None, offset: int
    ) -> list[RowMapping]:
        query = self._store_query().where(*filters).order_by(stores.c.id)
        query = query.limit(limit).offset(offset)
        return list((await self._run(query)).mappings().all())

    async def get_store(self, *conditions: Any) -> RowMapping | None:
        result = await self._run(self._store_query().where(*conditions))
        row: RowMapping | None = result.mappings().first()
        return row

    async def list_products(self, filters: list[Any], limit: int, offset: int) -> list[RowMapping]:
        query = select(products).where(*filters).order_by(products.c.id).limit(limit).offset(offset)
        return list((await self._run(query)).mappings().all())

    async def get_product(self, product_id: int) -> RowMapping | None:
        result = await self._run(select(products).where(products.c.id == product_id))
        row: RowMapping | None = result.mappings().first()
        return row

    async def prices_of_product(self, product_id: int) -> list[RowMapping]:
        query = (
            select(
                *current_price_columns(),
                stores.c.store_id,
                stores.c.name.label("store_name"),
                stores.c.state,
            )
            .join(stores, stores.c.id == current_prices.c.store_pk)
            .where(current_prices.c.product_id == product_id)
            .order_by(current_prices.c.store_pk)
        )
        return list((await self._run(query)).mappings().all())

    async def prices_of_store(
        self, store_pk: int, include_delisted: bool, limit: int, offset: int
    ) -> list[RowMapping]:
        query = (
            select(
                *current_price_columns(),
                products.c.sku,
                products.c.name,
                products.c.brand,
                products.c.size,
                products.c.barcode,
            )
            .join(products, products.c.id == current_prices.c.product_id)
            .join(stores, stores.c.id == current_prices.c.store_pk)
            .where(current_prices.c.store_pk == store_pk)
            .order_by(current_prices.c.product_id)
            .limit(limit)
            .offset(offset)
        )
        if not include_delisted:
            query = query.where(current_prices.c.delisted == false())
        return list((await self._run(query)).mappings().all())

    async def export_page(
        self, filters: list[Any], after: tuple[int, int] | None, limit: int
    ) -> list[RowMapping]:
        """One page in (store_pk, product_id) order: a unique key no update ever moves."""
        query = (
            select(
                *current_price_columns(),
                stores.c.store_id,
                products.c.sku,
            )
            .join(stores, stores.c.id == current_prices.c.store_pk)
            .join(products, products.c.id == current_prices.c.product_id)
            .where(*filters)
            .order_by(current_prices.c.store_pk, current_prices.c.product_id)
            .limit(limit)
        )
        if after is not None:
            key = tuple_(current_prices.c.store_pk, current_prices.c.product_id)
            query = query.where(key > tuple_(*after))
        return list((await self._run(query)).mappings().all())


def current_price_columns() -> list[Any]:
    """Every ``current_prices`` column, observation times as readers see them (the query
    joins ``stores``)."""
    derived = {"observed_at": observed_at(), "last_seen": price_last_seen()}
    return [derived[c.name].label(c.name) if c.name in derived else c for c in current_prices.c]


def text_search(query: str) -> Any:
    """Every word of ``query`` in the product's brand or name, case-insensitively."""
    clauses = []
    for word in query.split():
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        clauses.append(
            or_(
                products.c.name.ilike(pattern, escape="\\"),
                products.c.brand.ilike(pattern, escape="\\"),
            )
        )
    return and_(*clauses)
