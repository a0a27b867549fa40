"""Piece-by-piece validation: the same records, and the same refusals, as the whole catalogue."""

from __future__ import annotations

from typing import Any

import msgspec
import orjson
import pytest
from splitcart_ingest import catalogue
from splitcart_ingest.catalogue import (
    FastRow,
    ProductRow,
    Record,
    Refused,
    match_key,
    record_chunks,
    stage_record,
    validate_rows,
)
from splitcart_ingest.repository import STAGE_COLUMNS

from .conftest import product


@pytest.fixture(autouse=True)
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalogue, "PIECE_BYTES", 300)  # about one line a piece


def _ndjson(rows: list[dict[str, Any]]) -> bytes:
    return b"\n".join(orjson.dumps(row) for row in rows)


def _chunked(ndjson: bytes, count: int) -> list[Record]:
    return [record for chunk in record_chunks(ndjson, count) for record in chunk]


def _whole(ndjson: bytes, count: int) -> list[Record]:
    return [stage_record(row) for row in validate_rows(ndjson, count)]


def _refusal(read: Any, ndjson: bytes, count: int) -> str:
    with pytest.raises(Refused) as refused:
        read(ndjson, count)
    assert refused.value.reason == "malformed"
    return refused.value.detail


def test_pieces_hold_the_records_of_the_whole_catalogue() -> None:
    rows = [product(str(i), 100 + i) for i in range(40)]
    rows[7] = {"sku": "7", "name": "Sparse"}  # the defaults fill the rest
    ndjson = _ndjson(rows)
    chunks = list(record_chunks(ndjson, len(rows)))
    assert len(chunks) > 5
    assert _chunked(ndjson, len(rows)) == _whole(ndjson, len(rows))
    assert _chunked(ndjson, len(rows))[7][10:12] == (False, True)  # on_special, available


def test_a_record_holds_each_field_in_its_staging_column_whatever_the_json_order() -> None:
    assert (*ProductRow.__annotations__, "match_key") == STAGE_COLUMNS
    reversed_keys = dict(reversed(product("1", 350, barcode="930").items()))
    sparse = {"name": "Sparse", "sku": "2"}
    rows = validate_rows(_ndjson([reversed_keys, sparse]), 2)
    first, second = (dict(zip(STAGE_COLUMNS, stage_record(row), strict=True)) for row in rows)
    assert first == {
        **product("1", 350, barcode="930"),
        "category_path": '["Pantry","Snacks"]',
        "match_key": match_key("Acme", "Product 1", "500g"),
    }
    assert second["sku"] == "2" and second["name"] == "Sparse" and second["brand"] is None
    assert second["category_path"] == "[]" and second["available"] is True


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda lines: lines.insert(30, b'{"sku": "x"}'), id="missing name"),
        pytest.param(lambda lines: lines.insert(30, b""), id="blank line"),
        pytest.param(lambda lines: lines.insert(30, b"   "), id="whitespace line"),
        pytest.param(lambda lines: lines.insert(30, b"{nope"), id="not json"),
        pytest.param(lambda lines: lines.append(lines[3]), id="duplicate sku"),
        pytest.param(lambda lines: lines.insert(30, b'{"sku": " ", "name": "x"}'), id="blank"),
    ],
)
def test_a_fault_in_a_later_piece_is_refused_as_the_whole_catalogue_refuses_it(
    damage: Any,
) -> None:
    lines = [orjson.dumps(product(str(i))) for i in range(40)]
    damage(lines)
    ndjson = b"\n".join(lines)
    count = len(lines)
    assert _refusal(_chunked, ndjson, count) == _refusal(_whole, ndjson, count)


def test_a_count_other_than_the_header_is_refused_after_the_last_piece() -> None:
    ndjson = _ndjson([product(str(i)) for i in range(40)])
    assert _refusal(_chunked, ndjson, 41) == _refusal(_whole, ndjson, 41)
    assert _refusal(_chunked, ndjson, 41) == "products hold 40 rows, header says 41"


def test_a_raw_newline_inside_a_string_reads_as_the_whole_catalogue_reads_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The whole catalogue's one JSON array turns the newline into a comma; a piece that ends
    # inside that string fails, and the whole catalogue supplies the rest.
    lines = [orjson.dumps(product(str(i))) for i in range(40)]
    monkeypatch.setattr(catalogue, "PIECE_BYTES", len(lines[0]) - 10)  # one line a piece
    lines[20] = lines[20].replace(b'"image_url":null', b'"image_url":"a\nb"')
    ndjson = b"\n".join(lines)
    wholes: list[int] = []
    whole = catalogue.validate_rows

    def spy(ndjson: bytes, count: int) -> Any:
        wholes.append(count)
        return whole(ndjson, count)

    monkeypatch.setattr(catalogue, "validate_rows", spy)
    assert _chunked(ndjson, 40) == _whole(ndjson, 40)
    assert _chunked(ndjson, 40)[20][13] == "a,b"
    assert wholes == [40, 40]  # each piecewise reading handed over, once


def test_the_fast_reader_has_the_fields_and_defaults_of_the_row_in_its_order() -> None:
    assert FastRow.__struct_fields__ == tuple(ProductRow.__annotations__)
    sparse = b'[{"sku": "1", "name": "x"}]'
    fast = [catalogue.fast_record(row) for row in catalogue._FAST_ROWS.decode(sparse)]
    assert fast == [stage_record(row) for row in catalogue._ROWS.validate_json(sparse)]


@pytest.mark.parametrize(
    "line",
    [
        b'{"sku": "1", "name": "a", "price_cents": 1.0}',
        b'{"sku": "1", "name": "a", "price_cents": 1e2}',
        b'{"sku": "1", "name": "a", "price_cents": "350"}',
        b'{"sku": "1", "name": "a", "on_special": 1}',
        b'{"sku": "1", "name": "a", "available": "false"}',
        b'{"sku": "1", "name": "a", "price_cents": -0}',
        b'{"sku": "1", "name": "a", "sku": "2"}',
        b'{"sku": " a ", "name": "a", "brand": ""}',
        b'{"sku": "1", "name": "\\ud83d\\ude00", "category_path": []}',
        b'{"sku": "1", "name": "a", "category_path": null}',
        b'{"sku": "1", "name": "a", "price_cents": 2000000001}',
        b'{"sku": "1", "name": "a", "was_price_cents": -1}',
        b'{"sku": "\\u00a0", "name": "a"}',
        b'{"sku": "\\t", "name": "a"}',
        b'{"sku": "1", "name": "a", "zz": 1}',
        b'{"sku": "1", "name": "a", "size": 500}',
        b'{"sku": "1"}',
    ],
)
def test_the_fast_reader_reads_a_line_as_pydantic_does_or_leaves_it_to_pydantic(
    line: bytes,
) -> None:
    array = b"[" + line + b"]"
    try:
        slow: Any = [stage_record(row) for row in catalogue._ROWS.validate_json(array)]
    except ValueError:
        slow = None
    try:
        fast = [catalogue.fast_record(row) for row in catalogue._FAST_ROWS.decode(array)]
    except msgspec.MsgspecError:
        fast = None
    assert fast is None or fast == slow  # never accepts what pydantic refuses, nor reads it apart
    rows = [orjson.dumps(product(f"p{i}")) for i in range(10)]
    ndjson = b"\n".join([*rows[:5], line, *rows[5:]])
    if slow is None:
        assert _refusal(_chunked, ndjson, 11) == _refusal(_whole, ndjson, 11)
    else:
        assert _chunked(ndjson, 11) == _whole(ndjson, 11)  # the catalogue reads alike


def test_a_lax_value_is_read_by_pydantic_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [orjson.dumps(product(str(i))) for i in range(40)]
    lines[12] = lines[12].replace(b'"price_cents":350', b'"price_cents":"351"')
    declined: list[bytes] = []
    pydantic = catalogue._validate_piece

    def spy(array: bytes) -> Any:
        declined.append(array)
        return pydantic(array)

    monkeypatch.setattr(catalogue, "_validate_piece", spy)
    records = _chunked(b"\n".join(lines), 40)
    assert records[12][6] == 351 and records[13][6] == 350
    assert len(declined) == 1 and b'"351"' in declined[0]  # only that piece was left to it
