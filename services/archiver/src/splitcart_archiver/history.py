"""The price history a store's archive shows: its own observations merged with what it
inherited from its anchors while it was a member of their group.

The rule, for store S and product P (also stated in ``formats/store.schema.json``):

1. Every ``catalog.price_history`` row of S for P is a point dated ``valid_from`` with
   ``source = "direct_scrape"``.
2. For each ``grouping.membership_history`` row of S with ``role = 'member'`` (an interval
   ``[start, end)``, ``end`` open when NULL) with anchor A: every row of A for P in effect
   during the interval is a point with ``source = "inferred_group"``, dated
   ``max(row.valid_from, start)``. A row of A is in effect from its ``valid_from`` until
   A's next row for P (the last one stays in effect), so the row A had at ``start`` is
   carried in at ``start``.
3. An inferred point dated t is dropped when S observed P itself at t, i.e. a direct row
   has ``valid_from <= t <= last_seen``.
4. Points are sorted by (date, direct before inferred, interval order).

Money is integer cents in the database and a string of dollars with exactly two decimals
in the archive (``350`` -> ``"3.50"``), converted with integer arithmetic only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

DIRECT = "direct_scrape"
INFERRED = "inferred_group"


@dataclass(frozen=True)
class Period:
    """An interval during which the store was a member inheriting from ``anchor_store_id``."""

    group_id: str
    anchor_store_id: str
    start: datetime
    end: datetime | None

    def covers(self, moment: datetime) -> bool:
        return self.start <= moment and (self.end is None or moment < self.end)


class HistoryRow(NamedTuple):
    """One ``catalog.price_history`` row; ``src`` 0 is the store's own, k >= 1 the anchor
    of the k-th membership period."""

    product_id: int
    src: int
    valid_from: datetime
    last_seen: datetime
    price_cents: int | None
    was_price_cents: int | None
    unit_price_cents: int | None
    unit_measure: str | None
    on_special: bool
    available: bool


_DOLLARS: dict[int, str] = {}


def dollars(cents: int | None) -> str | None:
    """Integer cents as a dollar string with two decimals: 350 -> "3.50", -5 -> "-0.05"."""
    if cents is None:
        return None
    text = _DOLLARS.get(cents)
    if text is None:
        whole, part = divmod(abs(cents), 100)
        text = f"{'-' if cents < 0 else ''}{whole}.{part:02d}"
        if len(_DOLLARS) < 100_000:  # prices repeat a lot; the cache stays small
            _DOLLARS[cents] = text
    return text


def point(row: HistoryRow, date: datetime, source: str) -> dict[str, Any]:
    return {
        "date": date,
        "price": dollars(row.price_cents),
        "was_price": dollars(row.was_price_cents),
        "unit_price": dollars(row.unit_price_cents),
        "unit_measure": row.unit_measure,
        "on_special": row.on_special,
        "available": row.available,
        "source": source,
    }


def product_points(rows: Sequence[HistoryRow], periods: Sequence[Period]) -> list[dict[str, Any]]:
    """The archive's ``price_history`` of one product from its rows, ordered by
    (src, valid_from) as the repository streams them."""
    direct = [r for r in rows if r.src == 0]
    keyed: list[tuple[datetime, int, int, dict[str, Any]]] = [
        (r.valid_from, 0, 0, point(r, r.valid_from, DIRECT)) for r in direct
    ]
    for index, period in enumerate(periods, start=1):
        anchor_rows = [r for r in rows if r.src == index]
        for date, row in inherited(anchor_rows, period):
            if not observed_directly(direct, date):
                keyed.append((date, 1, index, point(row, date, INFERRED)))
    keyed.sort(key=lambda item: item[:3])
    return [item[3] for item in keyed]


def inherited(
    anchor_rows: Sequence[HistoryRow], period: Period
) -> list[tuple[datetime, HistoryRow]]:
    """The anchor's rows in effect during ``period``, each dated within it."""
    found: list[tuple[datetime, HistoryRow]] = []
    for position, row in enumerate(anchor_rows):
        if period.end is not None and row.valid_from >= period.end:
            break
        following = anchor_rows[position + 1] if position + 1 < len(anchor_rows) else None
        if following is not None and following.valid_from <= period.start:
            continue  # superseded before the period began
        found.append((max(row.valid_from, period.start), row))
    return found


def observed_directly(direct: Sequence[HistoryRow], moment: datetime) -> bool:
    return any(r.valid_from <= moment <= r.last_seen for r in direct)
