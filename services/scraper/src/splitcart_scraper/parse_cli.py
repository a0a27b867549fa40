"""``splitcart scraper parse``: saved listing responses → normalised products as NDJSON.

Reads raw retailer JSON exactly as the retailer sent it (one listing page per file) and
prints one NormalisedProduct per line on stdout; a summary goes to stderr. A file of the
wrong shape stops the command naming the file, the spot and what is wrong (exit code 1).
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, BinaryIO

import orjson
import typer
from splitcart_shared.events import NormalisedProduct

from splitcart_scraper.adapters.base import ParsedPage
from splitcart_scraper.adapters.errors import ShapeError
from splitcart_scraper.adapters.fields import decode_json
from splitcart_scraper.adapters.parsers import PARSERS

app = typer.Typer(
    help="Offline tools of the scraper: parse saved retailer responses.", no_args_is_help=True
)


@app.callback()
def _group() -> None:
    """Keeps ``parse`` a subcommand (``splitcart scraper parse``) even while it is the only
    one, so mounting this app under ``scraper`` reads the same as running it alone."""


class CompanyName(StrEnum):
    coles = "coles"
    woolworths = "woolworths"
    aldi = "aldi"
    iga = "iga"


class ParseFailure(Exception):
    """A file that is not a listing response of the company."""


@app.command("parse")
def parse(
    company: Annotated[CompanyName, typer.Option("--company", "-c", help="The chain that sent it")],
    files: Annotated[list[Path], typer.Argument(help="Saved listing responses (raw JSON)")],
) -> None:
    """Print the normalised products of saved listing pages, one JSON object per line."""
    out = sys.stdout.buffer
    products = 0
    try:
        for path in files:
            products += _emit(parse_file(company, path), out)
    except ParseFailure as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    out.flush()
    typer.echo(f"parsed {products} products from {len(files)} file(s)", err=True)


def parse_file(company: CompanyName | str, path: Path) -> ParsedPage:
    """One saved response → its parsed page; ParseFailure says which file and why."""
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise ParseFailure(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        data = decode_json(str(company), body, "the file")
        return PARSERS[CompanyName(company).value](data)
    except ShapeError as exc:
        hint = " (an HTML page: saved while blocked?)" if body.lstrip()[:1] == b"<" else ""
        raise ParseFailure(
            f"{path}: not a listing response of {company}: at {exc.path}: {exc.detail}{hint}"
        ) from exc


def _emit(page: ParsedPage, out: BinaryIO) -> int:
    for product in page.products:
        # Validating here (not in the parsers' hot loop) guarantees exactly the contract.
        row = NormalisedProduct.model_validate(product).model_dump()
        out.write(orjson.dumps(row) + b"\n")
    return len(page.products)


if __name__ == "__main__":
    app()
