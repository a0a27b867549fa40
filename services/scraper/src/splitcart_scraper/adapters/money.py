"""Exact money and unit-measure conversion shared by the parsers.

Retailers send dollars as JSON floats (``3.5``, ``14.1``) or display strings
(``"$1.75"``). ``int(14.1 * 100)`` is 1409, so every conversion goes through the
shortest decimal text of the number (``repr``) and :class:`~decimal.Decimal`.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

_HUNDRED = Decimal(100)
_ONE = Decimal(1)


class MoneyError(ValueError):
    """A value that is not a price; parsers turn it into a ShapeError with a path."""


def dollars_to_cents(value: object) -> int:
    """A price in dollars (int, float or numeric string) to integer cents, exactly.

    Fractions of a cent are not a price any retailer shows: they mean the field changed
    meaning, so they raise instead of being rounded away.
    """
    cents = _decimal(value) * _HUNDRED
    if cents != cents.to_integral_value():
        raise MoneyError(f"{value!r} is not a whole number of cents")
    return int(cents)


def unit_dollars_to_cents(value: object) -> int:
    """A unit (comparison) price in dollars to cents, rounded half-up: retailers compute
    these by division and some carry a third decimal."""
    return int((_decimal(value) * _HUNDRED).quantize(_ONE, rounding=ROUND_HALF_UP))


def display_to_cents(text: str) -> int:
    """``"$1.75"``, ``"$1,299.00"`` or ``"1.75"`` to cents."""
    cleaned = text.strip().replace(",", "").removeprefix("$").strip()
    return dollars_to_cents(cleaned)


def _decimal(value: object) -> Decimal:
    if isinstance(value, bool):
        raise MoneyError(f"{value!r} is not a number")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        try:
            return Decimal(value)
        except InvalidOperation as exc:
            raise MoneyError(f"{value!r} is not a number") from exc
    raise MoneyError(f"{value!r} is not a number")


_UNIT_ALIASES = {
    "g": "g",
    "gm": "g",
    "gram": "g",
    "grams": "g",
    "kg": "kg",
    "kilogram": "kg",
    "ml": "mL",
    "millilitre": "mL",
    "l": "L",
    "lt": "L",
    "litre": "L",
    "ea": "ea",
    "each": "ea",
    "m": "m",
    "metre": "m",
    "cm": "cm",
    "sheet": "sheet",
    "sheets": "sheet",
    "pk": "pk",
    "pack": "pk",
}
_MEASURE = re.compile(r"^\s*(\d+(?:\.\d+)?)?\s*([A-Za-z]+)\s*$")


@lru_cache(maxsize=1024)
def normalise_measure(text: str) -> str | None:
    """``"100G"`` → ``"100g"``, ``"1 kg"`` → ``"1kg"``, ``"l"`` → ``"1L"``, ``"1EA"`` → ``"1ea"``.

    Returns None for something that is not a quantity and a unit. Cached: a catalogue
    uses a handful of measures.
    """
    match = _MEASURE.match(text)
    if match is None:
        return None
    quantity, unit = match.groups()
    canonical = _UNIT_ALIASES.get(unit.lower())
    if canonical is None:
        return None
    return f"{_quantity(quantity)}{canonical}"


def _quantity(text: str | None) -> str:
    if not text:
        return "1"
    number = Decimal(text).normalize()
    return format(number, "f")
