"""From ``catalog.current_prices`` to the engine's in-memory price matrices.

A company's matrix is loaded once, lazily, at its first round, then kept up to date by
re-reading only the stores each round finds dirty. Rows come out of SQL as plain int64
arrays (``store_pk, product_id, price_cents, unix seconds``), so neither a load nor a
refresh builds an object per observation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from sqlalchemy.ext.asyncio import AsyncSession

from splitcart_grouper import repository
from splitcart_grouper.engine import CompanyPrices, unix_to_ticks
from splitcart_grouper.repository import PriceRows

_STORE, _PRODUCT, _PRICE, _UNIX = range(4)


@dataclass
class CompanyData:
    """One company's prices as the engine sees them, plus the catalog keys behind them.

    Engine store keys are the chains' store ids; matrix columns are assigned to catalog
    product ids in order of first appearance and never move.
    """

    company: str
    prices: CompanyPrices = field(default_factory=CompanyPrices)
    columns: dict[int, int] = field(default_factory=dict)
    store_ids: dict[int, str] = field(default_factory=dict)  # catalog store_pk -> chain id

    def pk_of(self) -> dict[str, int]:
        return {sid: pk for pk, sid in self.store_ids.items()}

    def column_indices(self, product_ids: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
        unique, inverse = np.unique(product_ids, return_inverse=True)
        # setdefault evaluates len() before inserting: a new product gets the next column.
        cols = np.fromiter(
            (self.columns.setdefault(int(p), len(self.columns)) for p in unique.tolist()),
            np.intp,
            unique.size,
        )
        return cols[inverse]

    def add_stores(self, store_ids: dict[int, str]) -> None:
        """Give every known store a row, so the engine knows stores with no prices yet."""
        for pk, sid in store_ids.items():
            if sid not in self.prices:
                self.prices.upsert_store(sid, [], [], [])
            self.store_ids[pk] = sid

    def apply(self, rows: PriceRows, *, replace_pks: Iterable[int] = ()) -> None:
        """Write observations grouped by store (``rows`` sorted by store_pk).

        Stores in ``replace_pks`` get their whole row replaced (a store's full current
        set was read, so what is missing is gone); others are only added to.
        """
        replace = set(replace_pks)
        pks, starts = np.unique(rows[:, _STORE], return_index=True)
        bounds = [*starts.tolist(), len(rows)]
        for i, pk in enumerate(pks.tolist()):
            part = rows[bounds[i] : bounds[i + 1]]
            self._upsert(int(pk), part, replace=pk in replace)
            replace.discard(int(pk))
        for pk in replace:  # dirty stores with no priced observation left
            self.prices.upsert_store(self.store_ids[pk], [], [], [], replace=True)

    def _upsert(self, pk: int, part: PriceRows, *, replace: bool) -> None:
        self.prices.upsert_store(
            self.store_ids[pk],
            self.column_indices(part[:, _PRODUCT]),
            part[:, _PRICE],
            unix_to_ticks(part[:, _UNIX]),
            replace=replace,
        )


async def load_company(session: AsyncSession, company: str) -> CompanyData:
    """Every store and every listed, priced observation of one company."""
    data = CompanyData(company)
    data.add_stores(await repository.catalog_stores(session, company))
    async for chunk in repository.company_price_rows(session, company):
        # A store's rows may straddle two chunks: add, never replace, while loading.
        data.apply(chunk[np.argsort(chunk[:, _STORE], kind="stable")])
    return data


async def refresh_stores(
    session: AsyncSession, data: CompanyData, store_ids: Iterable[str]
) -> None:
    """Re-read the whole current-price set of a few stores (new stores included)."""
    wanted = set(store_ids)
    if wanted - set(data.store_ids.values()):
        data.add_stores(await repository.catalog_stores(session, data.company))
    pk_of = data.pk_of()
    pks = sorted(pk_of[s] for s in wanted if s in pk_of)
    if not pks:
        return
    rows = await repository.store_price_rows(session, pks)
    data.apply(rows[np.argsort(rows[:, _STORE], kind="stable")], replace_pks=pks)


class PriceCache:
    """The loaded companies of this process (the grouper runs as a single replica)."""

    def __init__(self) -> None:
        self._companies: dict[str, CompanyData] = {}

    def get(self, company: str) -> CompanyData | None:
        return self._companies.get(company)

    def put(self, data: CompanyData) -> None:
        self._companies[data.company] = data

    def drop(self, company: str) -> None:
        self._companies.pop(company, None)
