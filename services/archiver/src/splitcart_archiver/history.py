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

import orjson

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
    """The layout of a history row as streamed (driver records are used as they come, by
    position); ``src`` is the index of the row's source in the query."""

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
# Encoded fragments, reused across products and stores: a price point is one of a few
# thousand value combinations at one of a few thousand dates.
_DATES: dict[datetime, bytes] = {}
_TAILS: dict[tuple[Any, ...], bytes] = {}
_CACHE_LIMIT = 50_000


def dollars(cents: int | None) -> str | None:
    """Integer cents as a dollar string with two decimals: 350 -> "3.50", -5 -> "-0.05"."""
    if cents is None:
        return None
    text = _DOLLARS.get(cents)
    if text is None:
        whole, part = divmod(abs(cents), 100)
        text = f"{'-' if cents < 0 else ''}{whole}.{part:02d}"
        if len(_DOLLARS) < _CACHE_LIMIT:
            _DOLLARS[cents] = text
    return text


def _date(moment: datetime) -> bytes:
    encoded = _DATES.get(moment)
    if encoded is None:
        if len(_DATES) >= _CACHE_LIMIT:
            _DATES.clear()
        encoded = _DATES[moment] = orjson.dumps(moment, option=orjson.OPT_UTC_Z)
    return encoded


def _tail(row: Sequence[Any], source: str) -> bytes:
    key = (*row[4:10], source)
    encoded = _TAILS.get(key)
    if encoded is None:
        if len(_TAILS) >= _CACHE_LIMIT:
            _TAILS.clear()
        values = {
            "price": dollars(row[4]),
            "was_price": dollars(row[5]),
            "unit_price": dollars(row[6]),
            "unit_measure": row[7],
            "on_special": bool(row[8]),
            "available": bool(row[9]),
            "source": source,
        }
        encoded = _TAILS[key] = b"," + orjson.dumps(values)[1:]
    return encoded


def encode_point(row: Sequence[Any], date: datetime, source: str) -> bytes:
    """One point as JSON: ``{"date", "price", "was_price", "unit_price", "unit_measure",
    "on_special", "available", "source"}``."""
    return b'{"date":' + _date(date) + _tail(row, source)


InheritedPoints = Sequence[tuple[datetime, bytes]]


@dataclass(frozen=True, slots=True)
class Inheritance:
    """What one product inherits over one period: its points joined into one JSON
    fragment (what most members write as is), with each point's date and size to take
    them apart when they must be merged."""

    dates: tuple[datetime, ...]
    sizes: tuple[int, ...]
    joined: bytes

    @property
    def first(self) -> datetime:
        return self.dates[0]

    def points(self) -> list[tuple[datetime, bytes]]:
        found, offset = [], 0
        for date, size in zip(self.dates, self.sizes, strict=True):
            found.append((date, self.joined[offset : offset + size]))
            offset += size + 1  # the comma
        return found


def inherit(anchor_rows: Sequence[Sequence[Any]], period: Period) -> Inheritance | None:
    """Rule 2 for one product: the anchor's rows in effect during ``period``, encoded."""
    found = inherited(anchor_rows, period)
    if not found:
        return None
    encoded = [encode_point(row, date, INFERRED) for date, row in found]
    sizes = tuple(len(e) for e in encoded)
    return Inheritance(tuple(date for date, _ in found), sizes, b",".join(encoded))


def product_history(
    direct: Sequence[Sequence[Any]], inheritances: Sequence[Inheritance | None]
) -> bytes:
    """The elements of one product's ``price_history`` array, comma separated."""
    present = [i for i in inheritances if i is not None]
    if not present:
        return b",".join(encode_point(r, r[2], DIRECT) for r in direct)
    if len(present) == 1:
        only = present[0]
        if not direct:
            return only.joined
        if only.first > max(r[3] for r in direct):
            # The usual member: its own scrape before joining, then the anchor's points;
            # nothing to drop (rule 3) and already in date order.
            own = b",".join(encode_point(r, r[2], DIRECT) for r in direct)
            return own + b"," + only.joined
    points = [i.points() if i is not None else [] for i in inheritances]
    return b",".join(product_points(direct, points))


def product_points(
    direct: Sequence[Sequence[Any]], inherited_points: Sequence[InheritedPoints]
) -> list[bytes]:
    """The encoded ``price_history`` of one product: the store's own rows (``HistoryRow``
    layout, by ``valid_from``) merged with what each membership period inherited."""
    own = [encode_point(r, r[2], DIRECT) for r in direct]
    kept = [_not_observed(direct, points) for points in inherited_points]
    if not any(kept):
        return own
    if len(kept) == 1 and (not direct or direct[-1][2] < kept[0][0][0]):
        return own + [encoded for _, encoded in kept[0]]  # already in date order
    keyed = [(r[2], 0, 0, encoded) for r, encoded in zip(direct, own, strict=True)]
    for index, points in enumerate(kept, start=1):
        keyed.extend((date, 1, index, encoded) for date, encoded in points)
    keyed.sort(key=lambda item: item[:3])
    return [item[3] for item in keyed]


def _not_observed(direct: Sequence[Sequence[Any]], points: InheritedPoints) -> InheritedPoints:
    """Rule 3: drop inherited points the store observed itself."""
    if not direct or not points:
        return points
    first, last = min(r[2] for r in direct), max(r[3] for r in direct)
    if points[0][0] > last or points[-1][0] < first:
        return points  # the common case: no overlap with the store's own observations
    return [p for p in points if not observed_directly(direct, p[0])]


def inherited(
    anchor_rows: Sequence[Sequence[Any]], period: Period
) -> list[tuple[datetime, Sequence[Any]]]:
    """The anchor's rows in effect during ``period``, each dated within it."""
    found: list[tuple[datetime, Sequence[Any]]] = []
    for position, row in enumerate(anchor_rows):
        if period.end is not None and row[2] >= period.end:
            break
        following = anchor_rows[position + 1] if position + 1 < len(anchor_rows) else None
        if following is not None and following[2] <= period.start:
            continue  # superseded before the period began
        found.append((max(row[2], period.start), row))
    return found


def observed_directly(direct: Sequence[Sequence[Any]], moment: datetime) -> bool:
    return any(r[2] <= moment <= r[3] for r in direct)
