"""The service skeleton every service shares: health, readiness, metrics, auth, errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, Depends
from splitcart_shared import testing
from splitcart_shared.auth import require
from splitcart_shared.errors import NotFound
from splitcart_shared.runtime import ServiceDefinition, create_service_app
from splitcart_shared.settings import ApiToken, CommonSettings

router = APIRouter()


@router.post("/v1/things/{name}")
async def make_thing(name: str, caller: str = Depends(require("write"))) -> dict[str, str]:
    if name == "missing":
        raise NotFound("no such thing", name=name)
    return {"name": name, "caller": caller}


def definition() -> ServiceDefinition:
    return ServiceDefinition(name="probe", settings_factory=CommonSettings, routers=[router])


TOKENS = {
    "scraper": ApiToken(token="s" * 32, scopes=["read", "write"]),
    "viewer": ApiToken(token="v" * 32, scopes=["read"]),
}


async def test_healthz_metrics_and_openapi_answer(sqlite_database: str) -> None:
    app = create_service_app(definition(), CommonSettings(database_url=sqlite_database))
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        assert (await client.get("/readyz")).status_code == 200
        assert (await client.get("/backlogz")).json() == {"outbox": 0, "inbound": 0}
        assert b"splitcart_" in (await client.get("/metrics")).content
        assert "/v1/things/{name}" in (await client.get("/openapi.json")).json()["paths"]


async def test_mutating_endpoint_needs_a_token_with_write_scope(sqlite_database: str) -> None:
    settings = CommonSettings(database_url=sqlite_database, api_tokens=TOKENS)
    app = create_service_app(definition(), settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        assert (await client.post("/v1/things/a")).status_code == 401
        bad = await client.post("/v1/things/a", headers={"Authorization": "Bearer " + "x" * 32})
        assert bad.status_code == 401 and bad.json()["error"]["code"] == "unauthorized"
        read_only = await client.post(
            "/v1/things/a", headers={"Authorization": "Bearer " + "v" * 32}
        )
        assert read_only.status_code == 403
        ok = await client.post("/v1/things/a", headers={"Authorization": "Bearer " + "s" * 32})
        assert ok.json() == {"name": "a", "caller": "scraper"}
        missing = await client.post(
            "/v1/things/missing", headers={"Authorization": "Bearer " + "s" * 32}
        )
        assert missing.status_code == 404
        assert missing.json()["error"] == {
            "code": "not_found",
            "message": "no such thing",
            "details": {"name": "missing"},
        }


def test_auth_cannot_be_switched_off_in_distributed_mode() -> None:
    with pytest.raises(ValueError, match="only in embedded mode"):
        CommonSettings(amqp_url="amqp://x", auth_disabled=True)


def test_distributed_mode_refuses_to_start_without_tokens() -> None:
    with pytest.raises(RuntimeError, match="SPLITCART_API_TOKENS"):
        CommonSettings(amqp_url="amqp://x").require_tokens()


async def test_readyz_goes_unready_when_postgres_is_unreachable_and_ready_after(
    postgres_database: str,
) -> None:
    proxy = testing.TcpProxy("127.0.0.1", 5432)
    port = await proxy.start()
    url = postgres_database.replace("127.0.0.1:5432", f"127.0.0.1:{port}")
    app = create_service_app(definition(), CommonSettings(database_url=url, auth_disabled=True))
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        assert (await client.get("/readyz")).status_code == 200
        await proxy.cut()
        down = await client.get("/readyz")
        assert down.status_code == 503 and down.json()["error"]["message"] == "database unreachable"
        assert (await client.get("/healthz")).status_code == 200
        await proxy.restore()
        await testing.wait_for(lambda: _ready(client), timeout=20)
    await proxy.cut()


async def test_readyz_goes_unready_when_sqlite_files_vanish_and_ready_after(
    sqlite_database: str, tmp_path: Path
) -> None:
    directory = Path(sqlite_database.split("///", 1)[1]).parent
    app = create_service_app(definition(), CommonSettings(database_url=sqlite_database))
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        assert (await client.get("/readyz")).status_code == 200
        moved = tmp_path / "moved"
        shutil.move(directory, moved)
        assert (await client.get("/readyz")).status_code == 503
        shutil.move(moved, directory)
        assert (await client.get("/readyz")).status_code == 200


async def _ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 200
