"""Decoding and checking one scraped catalogue, fast enough for 24,000 products per message.

``NormalisedProduct`` is the contract; building 24,000 frozen models costs more than the
whole database apply, so the catalogue is validated by pydantic-core into plain dicts against
:class:`ProductRow`, which mirrors that model's rules (a test keeps the two in step). It is
validated a piece at a time, each piece loaded into the database while the next is checked.

A well-formed piece is first read by msgspec against :class:`FastRow`, the same fields with
stricter types (no coercion): in two to three times less time than pydantic. Whatever that
reader declines goes to pydantic, which accepts what it always accepted and words every
refusal, so the fast reader changes no outcome.
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

import msgspec
import orjson
import zstandard
from pydantic import ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError
from splitcart_shared.events import CompressedProducts, RejectReason
from typing_extensions import TypedDict

Cents = Annotated[int, Field(ge=0, le=2_000_000_000)]  # fits an INTEGER column
Sku = Annotated[str, StringConstraints(pattern=r"\S")]


class ProductRow(TypedDict, total=False):
    """One catalogue line: the fields, defaults and rules of ``NormalisedProduct``, money never
    negative. A validated row holds every field (the defaults fill the missing ones)."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    sku: Required[Sku]
    name: Required[str]
    brand: Annotated[str | None, Field(default=None)]
    size: Annotated[str | None, Field(default=None)]
    barcode: Annotated[str | None, Field(default=None)]
    category_path: Annotated[list[str], Field(default_factory=list)]
    price_cents: Annotated[Cents | None, Field(default=None)]
    was_price_cents: Annotated[Cents | None, Field(default=None)]
    unit_price_cents: Annotated[Cents | None, Field(default=None)]
    unit_measure: Annotated[str | None, Field(default=None)]
    on_special: Annotated[bool, Field(default=False)]
    available: Annotated[bool, Field(default=True)]
    url: Annotated[str | None, Field(default=None)]
    image_url: Annotated[str | None, Field(default=None)]


class FastRow(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """:class:`ProductRow` for msgspec, field for field in the same order, with its rules but
    no coercion (a price of ``"350"`` or ``350.0`` is left to pydantic). Accepts nothing that
    :class:`ProductRow` refuses, and reads what it accepts to the same values."""

    sku: Annotated[str, msgspec.Meta(pattern=r"\S")]
    name: str
    brand: str | None = None
    size: str | None = None
    barcode: str | None = None
    category_path: list[str] = []
    price_cents: Annotated[int, msgspec.Meta(ge=0, le=2_000_000_000)] | None = None
    was_price_cents: Annotated[int, msgspec.Meta(ge=0, le=2_000_000_000)] | None = None
    unit_price_cents: Annotated[int, msgspec.Meta(ge=0, le=2_000_000_000)] | None = None
    unit_measure: str | None = None
    on_special: bool = False
    available: bool = True
    url: str | None = None
    image_url: str | None = None


_FAST_ROWS = msgspec.json.Decoder(list[FastRow])

# No string cache: a catalogue's strings are nearly all distinct (SKUs, names, URLs), so
# caching them costs a fifth of validation time and saves nothing.
_ROWS: TypeAdapter[list[ProductRow]] = TypeAdapter(
    list[ProductRow], config=ConfigDict(cache_strings=False)
)


class Refused(Exception):
    """A scrape ingest will not apply; the reason is one of ``ScrapeRejected.reason``."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason: RejectReason = reason
        self.detail = detail


Record = tuple[Any, ...]  # a row as the staging table's columns (``repository.STAGE_COLUMNS``)
# About 100 products: a piece's rows and records stay in the CPU cache while it is converted
# (a third less time than one pass over the whole catalogue), and little is left to load
# once the last piece is validated.
PIECE_BYTES = 1 << 15


@dataclass(frozen=True)
class Catalogue:
    """A decompressed catalogue, validated as it is staged (:meth:`record_chunks`), and the
    compressed bytes it came from."""

    ndjson: bytes
    count: int  # rows the header announces; staging refuses any other number
    blob: bytes  # zstd-compressed NDJSON, kept as the raw snapshot

    def record_chunks(self) -> Iterator[list[Record]]:
        return record_chunks(self.ndjson, self.count)


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
    """Decompress (validation comes as it is staged); :class:`Refused` if it cannot be."""
    try:
        blob = base64.b64decode(products.data, validate=True)
        ndjson = zstandard.ZstdDecompressor().decompress(blob)
    except (binascii.Error, zstandard.ZstdError) as exc:
        raise Refused("malformed", f"products cannot be decompressed: {exc}") from exc
    return Catalogue(ndjson=ndjson, count=products.count, blob=blob)


def decode_snapshot(blob: bytes, count: int) -> Catalogue:
    return Catalogue(ndjson=zstandard.ZstdDecompressor().decompress(blob), count=count, blob=blob)


def record_chunks(ndjson: bytes, count: int) -> Iterator[list[Record]]:
    """The catalogue as staging records, validated piece by piece so that the database loads
    one piece while the next is validated; raises :class:`Refused` (``malformed``) for the
    same catalogues, with the same detail, as :func:`validate_rows`.

    A piece is whole lines. Pieces that each validate join into the catalogue's JSON array,
    and a valid prefix parses alike alone or in it, so their records are the catalogue's;
    the first piece that fails hands over to the whole catalogue, which either names the
    error or (a raw newline inside a string) holds the remaining rows.
    """
    skus: list[str] = []
    for piece in _pieces(ndjson.strip()):
        with collector_paused():
            chunk = _piece_records(piece)
            whole = chunk is None
            if chunk is None:
                rows = validate_rows(ndjson, count)[len(skus) :]
                chunk = [stage_record(row) for row in rows]
                del rows  # dropped while the collector is paused: it never walks them
        skus += [record[0] for record in chunk]
        yield chunk
        if whole:
            return
    _check_count(len(skus), count)
    _check_skus(skus)


def _pieces(body: bytes) -> Iterator[bytes]:
    start = 0
    while start < len(body):
        end = body.find(b"\n", start + PIECE_BYTES)
        end = len(body) if end < 0 else end
        yield body[start:end]
        start = end + 1


def _piece_records(piece: bytes) -> list[Record] | None:
    """The piece's staging records; None when it does not validate or holds none (a blank
    line). msgspec reads it if it can, pydantic otherwise (see the module's docstring)."""
    array = _json_array(piece)
    try:
        fast = _FAST_ROWS.decode(array)
    except msgspec.MsgspecError:
        rows = _validate_piece(array)
        return [stage_record(row) for row in rows] if rows else None
    return [fast_record(row) for row in fast] or None


def _validate_piece(array: bytes) -> list[ProductRow] | None:
    """The rows of a piece's JSON array; None when it does not validate."""
    try:
        return _ROWS.validate_json(array)
    except ValidationError:
        return None


def _json_array(lines: bytes) -> bytes:
    # One JSON array for one pass of the validator; a blank line becomes a syntax error.
    return b"[" + lines.replace(b"\n", b",") + b"]"


def validate_rows(ndjson: bytes, count: int) -> list[ProductRow]:
    body = ndjson.strip()
    try:
        rows = _ROWS.validate_json(_json_array(body)) if body else []
    except ValidationError as exc:
        raise Refused("malformed", _first_error(exc)) from exc
    _check_count(len(rows), count)
    _check_skus([row["sku"] for row in rows])
    return rows


def _first_error(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"invalid product at {where}: {first['msg']} ({exc.error_count()} errors)"


def _check_count(rows: int, count: int) -> None:
    if rows != count:
        raise Refused("malformed", f"products hold {rows} rows, header says {count}")


def _check_skus(skus: list[str]) -> None:
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


# The fields of a store's price for a product: a change in any is a new price.
PRICE_FIELDS = (
    "price_cents",
    "was_price_cents",
    "unit_price_cents",
    "unit_measure",
    "on_special",
    "available",
)


# Where a validated row holds the fields a record is built from.
_NAME, _BRAND, _SIZE, _CATEGORY = (
    list(ProductRow.__annotations__).index(f) for f in ("name", "brand", "size", "category_path")
)


def stage_record(row: ProductRow) -> Record:
    """A validated row as the staging table's columns (see ``repository.STAGE_COLUMNS``).

    The validator hands back every field in the order :class:`ProductRow` declares them,
    which is the staging order (a test holds the two together): one pass over the values
    costs less than a lookup by name each.
    """
    return _record(list(row.values()))


def fast_record(row: FastRow) -> Record:
    """:func:`stage_record` of a row msgspec read (its fields are in the same order)."""
    return _record(list(msgspec.structs.astuple(row)))


def _record(values: list[Any]) -> Record:
    values[_CATEGORY] = orjson.dumps(values[_CATEGORY]).decode()
    values.append(match_key(values[_BRAND], values[_NAME], values[_SIZE]))
    return tuple(values)
