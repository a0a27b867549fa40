"""Decoding and checking one scraped catalogue, fast enough for 24,000 products per message.

``NormalisedProduct`` is the contract; building 24,000 frozen models costs more than the
whole database apply, so the catalogue is validated in one pass by pydantic-core into plain
dicts against :class:`ProductRow`, which mirrors that model's rules (a test keeps the two in
step).
"""

from __future__ import annotations

import base64
import binascii
import gc
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, Required

import orjson
import zstandard
from pydantic import ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError
from splitcart_shared.events import CompressedProducts, RejectReason
from typing_extensions import TypedDict

Cents = Annotated[int, Field(ge=0, le=2_000_000_000)]  # fits an INTEGER column
Sku = Annotated[str, StringConstraints(pattern=r"\S")]


class ProductRow(TypedDict, total=False):
    """One catalogue line: the fields and rules of ``NormalisedProduct``, money never negative."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    sku: Required[Sku]
    name: Required[str]
    brand: str | None
    size: str | None
    barcode: str | None
    category_path: list[str]
    price_cents: Cents | None
    was_price_cents: Cents | None
    unit_price_cents: Cents | None
    unit_measure: str | None
    on_special: bool
    available: bool
    url: str | None
    image_url: str | None


_ROWS: TypeAdapter[list[ProductRow]] = TypeAdapter(list[ProductRow])


class Refused(Exception):
    """A scrape ingest will not apply; the reason is one of ``ScrapeRejected.reason``."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason: RejectReason = reason
        self.detail = detail


Record = tuple[Any, ...]  # a row as the staging table's columns (``repository.STAGE_COLUMNS``)


@dataclass(frozen=True)
class Catalogue:
    """A decoded, validated catalogue and the compressed bytes it came from."""

    records: list[Record]
    blob: bytes  # zstd-compressed NDJSON, kept as the raw snapshot


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a catalogue is decoded.

    Validation builds ~50,000 dicts and lists that hold no reference cycles, yet every 700
    allocations start a collection, and those of the oldest generation walk the whole heap:
    left running, the collector costs about as much as decoding.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def decode_products(products: CompressedProducts) -> Catalogue:
    """Decompress and validate; raises :class:`Refused` (``malformed``) on anything wrong."""
    try:
        blob = base64.b64decode(products.data, validate=True)
        ndjson = zstandard.ZstdDecompressor().decompress(blob)
    except (binascii.Error, zstandard.ZstdError) as exc:
        raise Refused("malformed", f"products cannot be decompressed: {exc}") from exc
    return Catalogue(records=parse_ndjson(ndjson, products.count), blob=blob)


def decode_snapshot(blob: bytes, count: int) -> list[Record]:
    return parse_ndjson(zstandard.ZstdDecompressor().decompress(blob), count)


def parse_ndjson(ndjson: bytes, count: int) -> list[Record]:
    """The validated catalogue as staging records; the validated dicts are dropped at once,
    so the collector, paused meanwhile, never walks them."""
    with collector_paused():
        return [stage_record(row) for row in validate_rows(ndjson, count)]


def validate_rows(ndjson: bytes, count: int) -> list[ProductRow]:
    body = ndjson.strip()
    try:
        # One JSON array for one pass of the validator; a blank line becomes a syntax error.
        rows = _ROWS.validate_json(b"[" + body.replace(b"\n", b",") + b"]") if body else []
    except ValidationError as exc:
        raise Refused("malformed", _first_error(exc)) from exc
    if len(rows) != count:
        raise Refused("malformed", f"products hold {len(rows)} rows, header says {count}")
    _check_rows(rows)
    return rows


def _first_error(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"invalid product at {where}: {first['msg']} ({exc.error_count()} errors)"


def _check_rows(rows: list[ProductRow]) -> None:
    skus = [row["sku"] for row in rows]
    if len(set(skus)) != len(skus):
        dupes = sorted(sku for sku, n in Counter(skus).items() if n > 1)
        raise Refused("malformed", f"duplicate skus: {', '.join(dupes[:5])}")


# --- product matching -------------------------------------------------------------------

_NON_WORD = re.compile(r"[^0-9a-z]+")
_SIZE_GAP = re.compile(r"(?<=\d) (?=[a-z])")


def _words(value: str | None) -> str:
    if not value:
        return ""
    return _NON_WORD.sub(" ", value.lower().replace("&", " and ")).strip()


@lru_cache(maxsize=262_144)  # catalogues repeat scrape after scrape: the cache makes it free
def match_key(brand: str | None, name: str, size: str | None) -> str:
    """Normalised ``brand|name|size``: a chain's name repeating the brand matches one without."""
    brand_words, name_words = _words(brand), _words(name)
    if brand_words and name_words.startswith(brand_words + " "):
        name_words = name_words[len(brand_words) + 1 :]
    size_words = _SIZE_GAP.sub("", _words(size)).replace(" ", "")
    return f"{brand_words}|{name_words}|{size_words}"


def row_key(row: ProductRow) -> str:
    return match_key(row.get("brand"), row["name"], row.get("size"))


def category_json(row: ProductRow) -> str:
    return orjson.dumps(row.get("category_path", [])).decode()


def stage_record(row: ProductRow) -> Record:
    """The row as the staging table's columns (see ``repository.STAGE_COLUMNS``)."""
    get = row.get
    return (
        row["sku"],
        row["name"],
        get("brand"),
        get("size"),
        get("barcode"),
        category_json(row),
        get("price_cents"),
        get("was_price_cents"),
        get("unit_price_cents"),
        get("unit_measure"),
        get("on_special", False),
        get("available", True),
        get("url"),
        get("image_url"),
        row_key(row),
    )
