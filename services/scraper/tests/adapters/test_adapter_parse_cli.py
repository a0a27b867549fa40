"""``splitcart scraper parse``: saved responses in, NDJSON of normalised products out."""

from __future__ import annotations

from pathlib import Path

import orjson
from splitcart_scraper.adapters.samples import (
    aldi_page,
    aldi_product,
    coles_page,
    coles_product,
    coles_tile,
    woolworths_page,
    woolworths_product,
)
from splitcart_scraper.parse_cli import app
from splitcart_shared.events import NormalisedProduct
from typer.testing import CliRunner

runner = CliRunner()


def _save(tmp_path: Path, name: str, body: object) -> Path:
    path = tmp_path / name
    path.write_bytes(body if isinstance(body, bytes) else orjson.dumps(body))
    return path


def test_prints_one_normalised_product_per_line(tmp_path: Path) -> None:
    first = _save(tmp_path, "p1.json", coles_page([coles_product(1), coles_tile()], 2))
    second = _save(tmp_path, "p2.json", coles_page([coles_product(2, was=30)], 2))
    result = runner.invoke(app, ["parse", "--company", "coles", str(first), str(second)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    rows = [orjson.loads(line) for line in lines]
    assert [r["sku"] for r in rows] == ["1", "2"]
    assert all(set(r) == set(NormalisedProduct.model_fields) for r in rows)
    assert rows[1]["was_price_cents"] == 3000


def test_drops_what_the_chain_rules_drop(tmp_path: Path) -> None:
    page = woolworths_page([woolworths_product(1), woolworths_product(2, sponsored=True)], 1)
    result = runner.invoke(app, ["parse", "-c", "woolworths", str(_save(tmp_path, "w.json", page))])
    assert result.exit_code == 0
    assert [orjson.loads(x)["sku"] for x in result.stdout.splitlines() if x.startswith("{")] == [
        "1"
    ]


def test_a_file_of_another_chain_names_the_file_and_the_spot(tmp_path: Path) -> None:
    path = _save(tmp_path, "aldi.json", aldi_page([aldi_product("000000000000000001")], 1))
    result = runner.invoke(app, ["parse", "-c", "coles", str(path)])
    assert result.exit_code == 1
    assert "aldi.json" in result.output
    assert "$.pageProps" in result.output


def test_a_saved_challenge_page_is_explained(tmp_path: Path) -> None:
    path = _save(tmp_path, "blocked.json", b"<html><script src='/_Incapsula_Resource'></html>")
    result = runner.invoke(app, ["parse", "-c", "coles", str(path)])
    assert result.exit_code == 1
    assert "blocked.json" in result.output
    assert "HTML" in result.output


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["parse", "-c", "iga", str(tmp_path / "nope.json")])
    assert result.exit_code == 1
    assert "nope.json" in result.output
