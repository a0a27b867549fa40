"""Writing one archive file, streamed: rows come from the database in order and go to the
temporary file product by product (orjson), so memory does not grow with the number of
stores or with the length of a store's history.

Memory per build is bounded by what ``CompanyCache`` keeps for one company (encoded product
details, a few anchors' inherited points) and one store's product ids.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from splitcart_shared.clock import clock, utc
from splitcart_shared.errors import NotFound
from sqlalchemy.ext.asyncio import AsyncSession

from splitcart_archiver import repository
from splitcart_archiver.history import Inheritance, Period, inherit, product_history
from splitcart_archiver.models import COMPANY_ARCHIVE
from splitcart_archiver.repository import HistorySource, Row
from splitcart_archiver.writer import Sink, atomic_file, company_path, store_path

SCHEMA_VERSION = 1
_JSON = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC
UNKNOWN_STATE = "UNKNOWN"


@dataclass(frozen=True)
class BuiltArchive:
    """One file written: what the manifest row and the ``archive.built`` event carry."""

    company: str
    store_id: str  # COMPANY_ARCHIVE ("") for the company archive
    path: str
    sha256: str
    bytes: int
    products: int  # stores, for the company archive
    generated_at: datetime

    def manifest_row(self) -> dict[str, Any]:
        return {
            "company": self.company,
            "store_id": self.store_id,
            "path": self.path,
            "sha256": self.sha256,
            "bytes": self.bytes,
            "products": self.products,
            "generated_at": self.generated_at,
        }


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=_JSON)


# --- products -------------------------------------------------------------------------------


Inherited = dict[int, Inheritance]


class CompanyCache:
    """What the archives of one company's stores share within a batch: the encoded details
    of its products, and the points inherited from an anchor over a membership period
    (members that joined a group together inherit the very same points).

    Bounded by one catalogue (a few tens of MB), never by the number of stores. A batch may
    reuse an anchor's points read a moment earlier: if the anchor changed meanwhile, its
    ``store.ingested`` marked the members again and they are rebuilt.
    """

    # Builds are ordered by group (``Archiver``), so members sharing points come together.
    INHERITED_ENTRIES = 2

    def __init__(self, company: str, chunk: int = 2_000) -> None:
        self.company = company
        self.chunk = chunk
        self.prefix: dict[int, bytes] = {}
        self.category: dict[int, tuple[str, ...]] = {}
        self._inherited: OrderedDict[tuple[int, Period], Inherited] = OrderedDict()

    async def require(self, session: AsyncSession, ids: Sequence[int]) -> None:
        if not self.prefix:
            async for row in repository.stream_products(session, self.company, self.chunk):
                self._add(row)
        missing = [i for i in ids if i not in self.prefix]
        for row in await repository.products_by_id(session, missing):
            self._add(row)

    def _add(self, row: dict[str, Any]) -> None:
        path = [str(name) for name in row["category_path"] or []]
        details = {
            "sku": row["sku"],
            "name": row["name"],
            "brand": row["brand"],
            "size": row["size"],
            "barcode": row["barcode"],
            "category_path": path,
            "url": row["url"],
            "image_url": row["image_url"],
        }
        # Everything but the history, left open: '{"sku":...,"price_history":'
        self.prefix[int(row["id"])] = dumps(details)[:-1] + b',"price_history":'
        self.category[int(row["id"])] = tuple(path)

    async def inherited(self, session: AsyncSession, anchor_pk: int, period: Period) -> Inherited:
        key = (anchor_pk, period)
        found = self._inherited.get(key)
        if found is None:
            found = await _read_inherited(session, anchor_pk, period, self.chunk)
            self._inherited[key] = found
            if len(self._inherited) > self.INHERITED_ENTRIES:
                self._inherited.popitem(last=False)
        self._inherited.move_to_end(key)
        return found


async def _read_inherited(
    session: AsyncSession, anchor_pk: int, period: Period, chunk: int
) -> Inherited:
    source = [HistorySource(anchor_pk, period.end)]
    ids = await repository.product_ids(session, source)
    found: Inherited = {}
    async for rows in by_product(repository.stream_history(session, source, ids, chunk)):
        inheritance = inherit(rows, period)
        if inheritance is not None:
            found[int(rows[0][0])] = inheritance
    return found


def category_hierarchy(paths: Iterable[tuple[str, ...]]) -> list[dict[str, Any]]:
    """The category tree of a set of products: nodes by name, each with the number of
    products at or below it; products without a category are not counted anywhere."""
    root: dict[str, Any] = {}
    for path, count in Counter(paths).items():  # a few thousand distinct paths at most
        level = root
        for name in path:
            node = level.setdefault(name, {"count": 0, "children": {}})
            node["count"] += count
            level = node["children"]
    return _tree(root)


def _tree(level: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"name": name, "product_count": node["count"], "children": _tree(node["children"])}
        for name, node in sorted(level.items())
    ]


# --- store archives -------------------------------------------------------------------------


def store_details(store: dict[str, Any]) -> dict[str, Any]:
    return {
        "company": store["company"],
        "store_id": store["store_id"],
        "name": store["name"],
        "division": store["division"],
        "address": store["address"],
        "suburb": store["suburb"],
        "state": store["state"],
        "postcode": store["postcode"],
        "latitude": store["latitude"],
        "longitude": store["longitude"],
        "is_open": bool(store["is_open"]),
        "scrapable": bool(store["scrapable"]),
        "group": _group(store),
    }


def _group(store: dict[str, Any]) -> dict[str, Any] | None:
    if store.get("group_id") is None:
        return None
    return {
        "group_id": store["group_id"],
        "role": store["role"],
        "anchor_store_id": store["anchor_store_id"],
    }


def _period(period: Period) -> dict[str, Any]:
    return {
        "group_id": period.group_id,
        "anchor_store_id": period.anchor_store_id,
        "valid_from": period.start,
        "valid_to": period.end,
    }


@dataclass
class StorePlan:
    """What one store's archive is made of, read before the file is opened."""

    store: dict[str, Any]
    periods: list[Period]  # usable periods: their anchor is a known store
    direct: HistorySource
    direct_ids: list[int]
    inherited: list[Inherited]  # one per period
    product_ids: list[int]


async def plan_store(
    session: AsyncSession, cache: CompanyCache, company: str, store_id: str
) -> StorePlan:
    store = await repository.store_row(session, company, store_id)
    if store is None:
        raise NotFound(f"no store {store_id!r} of {company!r}", company=company, store_id=store_id)
    periods = await repository.member_periods(session, company, store_id)
    anchors = await repository.store_pks(session, company, (p.anchor_store_id for p in periods))
    usable = [p for p in periods if p.anchor_store_id in anchors]
    inherited = [await cache.inherited(session, anchors[p.anchor_store_id], p) for p in usable]
    direct = HistorySource(int(store["id"]))
    direct_ids = await repository.product_ids(session, [direct])
    ids = sorted(set(direct_ids).union(*inherited))
    await cache.require(session, ids)
    return StorePlan(store, usable, direct, direct_ids, inherited, ids)


def store_metadata(plan: StorePlan, cache: CompanyCache, generated_at: datetime) -> dict[str, Any]:
    category = cache.category
    paths = (category[i] for i in plan.product_ids)
    return {
        "schema_version": SCHEMA_VERSION,
        "store": store_details(plan.store),
        "data_generation_date": generated_at,
        "product_count": len(plan.product_ids),
        "category_hierarchy": category_hierarchy(paths),
        "memberships": [_period(p) for p in plan.periods],
    }


async def by_product(batches: AsyncIterator[list[Row]]) -> AsyncIterator[list[Row]]:
    """Consecutive rows of one product (the stream is ordered by product id)."""
    group: list[Row] = []
    current = None
    async for rows in batches:
        for row in rows:
            if row[0] != current:
                if group:
                    yield group
                group, current = [], row[0]
            group.append(row)
    if group:
        yield group


async def write_products(
    session: AsyncSession, sink: Sink, plan: StorePlan, cache: CompanyCache
) -> int:
    """Every planned product in id order, its own rows merged in from one ordered stream."""
    stream = repository.stream_history(session, [plan.direct], plan.direct_ids, cache.chunk)
    direct_rows = by_product(stream)
    pending = await anext(direct_rows, None)
    prefix, inherited, write = cache.prefix, plan.inherited, sink.write
    for count, product_id in enumerate(plan.product_ids):
        direct: list[Row] = []
        if pending is not None and pending[0][0] == product_id:
            direct, pending = pending, await anext(direct_rows, None)
        body = product_history(direct, [by_id.get(product_id) for by_id in inherited])
        write((b"," if count else b"") + prefix[product_id] + b"[" + body + b"]}")
    if pending is not None:
        # Only possible if the rows changed under the read: never publish that file.
        raise RuntimeError(f"store {plan.store['store_id']} has rows beyond its plan")
    return len(plan.product_ids)


async def build_store(
    session: AsyncSession, root: Path, cache: CompanyCache, store_id: str
) -> BuiltArchive:
    """Write ``store_data/{company}/{store}.json`` from one consistent read."""
    company = cache.company
    plan = await plan_store(session, cache, company, store_id)
    generated_at = clock.now()
    relative = store_path(company, store_id)
    with atomic_file(root / relative) as sink:
        sink.write(b'{"metadata":' + dumps(store_metadata(plan, cache, generated_at)))
        sink.write(b',"products":[')
        written = await write_products(session, sink, plan, cache)
        sink.write(b"]}")
    done = sink.result()
    return BuiltArchive(company, store_id, relative, done.sha256, done.bytes, written, generated_at)


# --- company archives -----------------------------------------------------------------------


def company_metadata(row: dict[str, Any], generated_at: datetime) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "company": row["company"],
        "name": row["name"],
        "first_seen": _utc(row["first_seen"]),
        "last_swept_at": _utc(row["last_swept_at"]),
        "data_generation_date": generated_at,
    }


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def company_store(store: dict[str, Any]) -> dict[str, Any]:
    details = store_details(store)
    details["archive"] = store_path(store["company"], store["store_id"])
    return details


async def write_states(session: AsyncSession, sink: Sink, company: str, chunk: int) -> int:
    """``"stores_by_state": {"NSW": [...], ...}`` from stores ordered by state."""
    count, state = 0, None
    sink.write(b',"stores_by_state":{')
    async for store in repository.stream_stores(session, company, chunk):
        key = store["state"] or UNKNOWN_STATE
        if key != state:
            opener = b"" if state is None else b"],"
            sink.write(opener + dumps(key) + b":[")
        elif count:
            sink.write(b",")
        state = key
        sink.write(dumps(company_store(store)))
        count += 1
    sink.write(b"]}" if state is not None else b"}")
    return count


async def build_company(
    session: AsyncSession, root: Path, company: str, chunk: int
) -> BuiltArchive:
    """Write ``company_data/{company}.json``."""
    row = await repository.company_row(session, company)
    if row is None:
        raise NotFound(f"no company {company!r}", company=company)
    generated_at = clock.now()
    relative = company_path(company)
    with atomic_file(root / relative) as sink:
        sink.write(b'{"metadata":' + dumps(company_metadata(row, generated_at)))
        sink.write(b',"divisions":' + dumps(await repository.divisions(session, company)))
        stores = await write_states(session, sink, company, chunk)
        sink.write(b"}")
    done = sink.result()
    return BuiltArchive(
        company, COMPANY_ARCHIVE, relative, done.sha256, done.bytes, stores, generated_at
    )
