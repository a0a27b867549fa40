"""HTTP routes: the manifest and the archive files (ETag / If-None-Match, gzip)."""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse
from splitcart_shared.clock import utc
from splitcart_shared.events import Company
from splitcart_shared.runtime import Runtime, runtime_of

from splitcart_archiver import service
from splitcart_archiver.archive_schema import ArchiveFormat, json_schema
from splitcart_archiver.models import COMPANY_ARCHIVE
from splitcart_archiver.schemas import Manifest, ManifestEntry
from splitcart_archiver.settings import ArchiverSettings

router = APIRouter(prefix="/v1/archives", tags=["archives"])

RuntimeDep = Annotated[Runtime, Depends(runtime_of)]
_READ = 256 * 1024
_FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}}, "description": "the archive file"},
    304: {"description": "not modified (If-None-Match matched the ETag)"},
    404: {"description": "no such archive"},
}


@router.get("", response_model=Manifest, summary="Every archive file with its sha256")
async def list_archives(runtime: RuntimeDep, company: Company | None = None) -> Manifest:
    rows = await service.manifest(runtime.db, company)
    return Manifest(archives=[ManifestEntry.from_row(r) for r in rows])


@router.get("/company/{company}", responses=_FILE_RESPONSES, response_class=Response)
async def company_archive(runtime: RuntimeDep, request: Request, company: Company) -> Response:
    """`company_data/{company}.json`: the company, its divisions and its stores by state."""
    return await _serve(runtime, request, company, COMPANY_ARCHIVE)


@router.get("/store/{company}/{store_id}", responses=_FILE_RESPONSES, response_class=Response)
async def store_archive(
    runtime: RuntimeDep, request: Request, company: Company, store_id: str
) -> Response:
    """`store_data/{company}/{store}.json` by the chain's exact store id (e.g. `COL:858`)."""
    return await _serve(runtime, request, company, store_id)


@router.get("/schemas/{archive_format}", summary="JSON Schema of an archive format")
async def archive_schema(archive_format: ArchiveFormat) -> dict[str, Any]:
    schema: dict[str, Any] = json_schema(archive_format)
    return schema


async def _serve(runtime: Runtime, request: Request, company: str, store_id: str) -> Response:
    settings = runtime.settings
    assert isinstance(settings, ArchiverSettings)
    path, entry = await service.archive_file(runtime.db, settings, company, store_id)
    return _file_response(request, path, entry)


def _file_response(request: Request, path: Path, entry: dict[str, Any]) -> Response:
    gzip = _accepts_gzip(request.headers.get("accept-encoding", ""))
    etag = f'"{entry["sha256"]}{"-gzip" if gzip else ""}"'
    headers = {
        "ETag": etag,
        "Vary": "Accept-Encoding",
        "Cache-Control": "no-cache",
        "Last-Modified": _http_date(entry),
    }
    if _matches(request.headers.get("if-none-match"), entry["sha256"]):
        return Response(status_code=304, headers=headers)
    # Opened before streaming: a rebuild renaming a new file over it does not affect us.
    handle = path.open("rb")
    if gzip:
        headers["Content-Encoding"] = "gzip"
        return StreamingResponse(_gzipped(handle), media_type="application/json", headers=headers)
    headers["Content-Length"] = str(os.fstat(handle.fileno()).st_size)
    return StreamingResponse(_chunks(handle), media_type="application/json", headers=headers)


def _accepts_gzip(header: str) -> bool:
    for part in header.lower().split(","):
        name, _, params = part.strip().partition(";")
        if name.strip() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def _matches(header: str | None, sha256: str) -> bool:
    """If-None-Match against either representation's ETag (weak comparison, RFC 9110)."""
    if not header:
        return False
    for tag in header.split(","):
        tag = tag.strip().removeprefix("W/").strip('"')
        if tag == "*" or tag.removesuffix("-gzip") == sha256:
            return True
    return False


def _http_date(entry: dict[str, Any]) -> str:
    moment: datetime = utc(entry["generated_at"])
    return moment.strftime("%a, %d %b %Y %H:%M:%S GMT")


# Plain generators: Starlette iterates them in a worker thread, off the event loop.
def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while data := handle.read(_READ):
            yield data


def _gzipped(handle: BinaryIO) -> Iterator[bytes]:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: a gzip container
    for data in _chunks(handle):
        if out := compressor.compress(data):
            yield out
    yield compressor.flush()
