"""The history merge rule and money formatting, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st
from splitcart_archiver.builder import category_hierarchy
from splitcart_archiver.history import (
    HistoryRow,
    Period,
    dollars,
    inherit,
    inherited,
    product_history,
)
from splitcart_archiver.writer import safe_name, store_path

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def row(src: int, start: float, last: float | None = None, cents: int = 100) -> HistoryRow:
    return HistoryRow(
        1,
        src,
        day(start),
        day(start if last is None else last),
        cents,
        None,
        None,
        None,
        False,
        True,
    )


@given(st.integers(min_value=-(10**9), max_value=10**9))
def test_dollars_are_exact_with_two_decimals(cents: int) -> None:
    text = dollars(cents)
    assert text is not None
    assert Decimal(text) == Decimal(cents) / 100
    assert len(text.split(".")[1]) == 2


def history(direct: list[HistoryRow], anchor: list[HistoryRow], period: Period) -> list[Any]:
    """The decoded price_history of one product with one membership period."""
    body = product_history(direct, [inherit(anchor, period)])
    decoded: list[Any] = orjson.loads(b"[" + body + b"]")
    return decoded


def test_dollars_of_nothing_is_null() -> None:
    assert dollars(None) is None
    assert (dollars(5), dollars(350), dollars(100000)) == ("0.05", "3.50", "1000.00")


def test_the_anchor_row_in_effect_at_joining_is_carried_in_at_the_start() -> None:
    period = Period("g", "A", day(10), day(20))
    rows = [row(1, 0, cents=1), row(1, 5, cents=2), row(1, 12, cents=3), row(1, 20, cents=4)]
    found = [(date, r.price_cents) for date, r in inherited(rows, period)]
    assert found == [(day(10), 2), (day(12), 3)]


def test_an_open_period_takes_every_later_anchor_row() -> None:
    period = Period("g", "A", day(10), None)
    rows = [row(1, 11, cents=1), row(1, 400, cents=2)]
    assert [r.price_cents for _, r in inherited(rows, period)] == [1, 2]


def test_a_direct_observation_hides_the_anchor_point_at_that_time_only() -> None:
    period = Period("g", "A", day(10), None)
    anchor = [row(1, 11, cents=60), row(1, 13, cents=70), row(1, 15, cents=80)]
    points = history([row(0, 12, 14, cents=50)], anchor, period)
    assert [(p["price"], p["source"]) for p in points] == [
        ("0.60", "inferred_group"),
        ("0.50", "direct_scrape"),
        ("0.80", "inferred_group"),
    ]


def test_direct_points_come_first_on_equal_dates() -> None:
    period = Period("g", "A", day(10), None)
    direct = [row(0, 0, 1, cents=10), row(0, 10, 10, cents=20)]
    points = history(direct, [row(1, 3, cents=30)], period)
    assert [(p["price"], p["source"]) for p in points] == [
        ("0.10", "direct_scrape"),
        ("0.20", "direct_scrape"),
    ]


def test_own_scrape_before_joining_then_the_anchors_points() -> None:
    period = Period("g", "A", day(10), None)
    anchor = [row(1, 2, cents=60), row(1, 13, cents=70)]
    points = history([row(0, 0, 9, cents=50)], anchor, period)
    assert [(p["date"], p["price"], p["source"]) for p in points] == [
        ("2026-01-01T00:00:00Z", "0.50", "direct_scrape"),
        ("2026-01-11T00:00:00Z", "0.60", "inferred_group"),
        ("2026-01-14T00:00:00Z", "0.70", "inferred_group"),
    ]


def test_without_membership_only_own_points() -> None:
    points = orjson.loads(b"[" + product_history([row(0, 0, cents=5)], [None]) + b"]")
    assert [(p["price"], p["source"]) for p in points] == [("0.05", "direct_scrape")]


def test_store_file_names_are_filesystem_safe_and_keep_ordinary_ids() -> None:
    assert store_path("coles", "COL:858") == "store_data/coles/COL_858.json"
    assert safe_name("1275") == "1275" and safe_name("G102") == "G102"
    assert safe_name("a/b\\c d") == "a_b_c_d"
    assert safe_name("..") == "_.."


def test_category_hierarchy_counts_products_at_or_below_each_node() -> None:
    tree = category_hierarchy([("A", "B"), ("A", "C"), ("A",), ()])
    assert tree == [
        {
            "name": "A",
            "product_count": 3,
            "children": [
                {"name": "B", "product_count": 1, "children": []},
                {"name": "C", "product_count": 1, "children": []},
            ],
        }
    ]
