"""The listing parsers by company: pure functions from decoded JSON to a ParsedPage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from splitcart_shared.events import Company

from . import aldi, coles, iga, woolworths
from .base import ParsedPage

PARSERS: dict[Company, Callable[[Any], ParsedPage]] = {
    "woolworths": woolworths.parse_listing,
    "coles": coles.parse_listing,
    "aldi": aldi.parse_listing,
    "iga": iga.parse_listing,
}


def parse_listing(company: Company, data: Any) -> ParsedPage:
    """Parse one listing response of ``company`` (raises ShapeError on a shape change)."""
    return PARSERS[company](data)
