"""Money is exact integer cents, whatever the retailer's float or display string."""

from __future__ import annotations

import pytest
from splitcart_scraper.adapters.money import (
    MoneyError,
    display_to_cents,
    dollars_to_cents,
    normalise_measure,
    unit_dollars_to_cents,
)


def test_money_is_exact_cents() -> None:
    assert [dollars_to_cents(v) for v in (0.29, 1.15, 14.1, 19.99, 3.5, 12, "4.07")] == [
        29,
        115,
        1410,
        1999,
        350,
        1200,
        407,
    ]
    assert display_to_cents("$1,299.00") == 129900
    assert unit_dollars_to_cents(0.0725) == 7
    assert unit_dollars_to_cents(0.075) == 8
    with pytest.raises(MoneyError):
        dollars_to_cents(1.234)
    with pytest.raises(MoneyError):
        dollars_to_cents(True)


@pytest.mark.parametrize(
    ("text", "measure"),
    [
        ("100G", "100g"),
        ("1 kg", "1kg"),
        ("l", "1L"),
        ("100 ml", "100mL"),
        ("1EA", "1ea"),
        ("0.5kg", "0.5kg"),
    ],
)
def test_measures_normalise_to_one_spelling(text: str, measure: str) -> None:
    assert normalise_measure(text) == measure


def test_a_measure_that_is_not_one_is_none() -> None:
    assert normalise_measure("per squirt") is None
