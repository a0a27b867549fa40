"""The HTTP API: manifest, archive files with ETag / If-None-Match and gzip, schemas."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from splitcart_archiver.app import create_app
from splitcart_archiver.consumers import archiver_of
from splitcart_archiver.service import Archiver
from splitcart_archiver.settings import ArchiverSettings
from splitcart_shared.clock import SimulatedClock

from .conftest import Seed, at


@pytest_asyncio.fixture
async def app(
    settings: ArchiverSettings, seed: Seed, sim_clock: SimulatedClock
) -> AsyncIterator[FastAPI]:
    await seed.company()
    await seed.store("COL:858")
    await seed.product("1")
    await seed.price("COL:858", "1", at(0), at(1), 350)
    service_app = create_app(settings)
    async with LifespanManager(service_app):
        await archiver(service_app).build("coles")
        yield service_app


@pytest_asyncio.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://archiver") as http:
        yield http


def archiver(app: Any) -> Archiver:
    return archiver_of(app.state.runtime)


async def test_manifest_lists_every_file_with_its_digest(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/archives")
    assert response.status_code == 200
    entries = {e["path"]: e for e in response.json()["archives"]}
    assert set(entries) == {"company_data/coles.json", "store_data/coles/COL_858.json"}
    store = entries["store_data/coles/COL_858.json"]
    assert (store["company"], store["store_id"], store["products"]) == ("coles", "COL:858", 1)
    assert entries["company_data/coles.json"]["store_id"] is None
    other = await client.get("/v1/archives", params={"company": "aldi"})
    assert other.json() == {"archives": []}


async def test_store_archive_is_served_with_an_etag_that_round_trips(
    client: httpx.AsyncClient, settings: ArchiverSettings
) -> None:
    response = await client.get("/v1/archives/store/coles/COL:858")
    assert response.status_code == 200
    on_disk = (settings.archive_root / "store_data/coles/COL_858.json").read_bytes()
    assert response.content == on_disk
    etag = response.headers["etag"]
    again = await client.get("/v1/archives/store/coles/COL:858", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    stale = await client.get("/v1/archives/store/coles/COL:858", headers={"If-None-Match": '"x"'})
    assert stale.status_code == 200


async def test_a_rebuild_with_new_data_changes_the_etag(
    client: httpx.AsyncClient, seed: Seed, app: FastAPI
) -> None:
    first = (await client.get("/v1/archives/store/coles/COL:858")).headers["etag"]
    await seed.price("COL:858", "1", at(2), at(2), 400)
    await archiver(app).build("coles", "COL:858")
    response = await client.get(
        "/v1/archives/store/coles/COL:858", headers={"If-None-Match": first}
    )
    assert response.status_code == 200 and response.headers["etag"] != first


async def test_gzip_is_served_when_accepted(client: httpx.AsyncClient) -> None:
    plain = await client.get("/v1/archives/company/coles", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    zipped = await client.get("/v1/archives/company/coles", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == plain.content  # httpx decodes it
    assert zipped.headers["etag"] != plain.headers["etag"]
    revalidated = await client.get(
        "/v1/archives/company/coles",
        headers={"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["etag"]},
    )
    assert revalidated.status_code == 304


async def test_gzip_body_is_a_real_gzip_stream(client: httpx.AsyncClient) -> None:
    async with client.stream(
        "GET", "/v1/archives/company/coles", headers={"Accept-Encoding": "gzip"}
    ) as response:
        body = b"".join([chunk async for chunk in response.aiter_raw()])
    assert orjson.loads(gzip.decompress(body))["metadata"]["company"] == "coles"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/archives/store/coles/unknown", 404),
        ("/v1/archives/company/aldi", 404),
        ("/v1/archives/company/tesco", 422),
        ("/v1/archives/store/tesco/1", 422),
        ("/v1/archives/schemas/receipt", 422),
        ("/v1/archives?company=tesco", 422),
    ],
)
async def test_unknown_archives_and_bad_input_get_clear_errors(
    client: httpx.AsyncClient, path: str, status: int
) -> None:
    response = await client.get(path)
    assert response.status_code == status
    assert response.json()["error"]["code"] in ("not_found", "invalid_request")


async def test_a_manifest_row_whose_file_vanished_is_not_found(
    client: httpx.AsyncClient, settings: ArchiverSettings
) -> None:
    (settings.archive_root / "company_data/coles.json").unlink()
    response = await client.get("/v1/archives/company/coles")
    assert response.status_code == 404


async def test_json_schemas_are_published(client: httpx.AsyncClient) -> None:
    for name in ("company", "store"):
        response = await client.get(f"/v1/archives/schemas/{name}")
        assert response.status_code == 200
        assert response.json()["$schema"].startswith("https://json-schema.org/")
