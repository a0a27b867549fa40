"""HTTP routes of the scheduler: leases for scrapers, and views of the queue.

Stores are named in paths by ``{company}/{store_id}`` with the chain's own store id,
URL-encoded (``/v1/stores/coles/COL%3A858``).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from splitcart_shared.auth import caller_for, require
from splitcart_shared.clock import clock, utc
from splitcart_shared.errors import NotFound
from splitcart_shared.events import Company
from splitcart_shared.runtime import Runtime
from splitcart_shared.settings import CommonSettings
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Receive, Scope, Send

from splitcart_scheduler import metrics, service
from splitcart_scheduler.repository import LeaseStore
from splitcart_scheduler.schemas import (
    FailRequest,
    HeartbeatOut,
    LeaseOut,
    LeaseRequest,
    LeaseView,
    NextView,
    QueueItem,
    QueueOut,
    ReleaseOut,
    StatsOut,
    StoreView,
)
from splitcart_scheduler.service import Policy

router = APIRouter(prefix="/v1", tags=["scheduler"])
Writer = Annotated[str, Depends(require("write"))]


async def runtime_now(request: Request) -> Runtime:
    # An async dependency: plain-function dependencies run in FastAPI's thread pool, which
    # costs more than the lease itself on the hot path.
    runtime: Runtime = request.app.state.runtime
    return runtime


Rt = Annotated[Runtime, Depends(runtime_now)]


async def unit_of_work(runtime: Rt) -> AsyncIterator[AsyncSession]:
    """One request, one transaction, committed when the endpoint returns (before the response
    is sent, so a caller that got an answer finds its effect committed)."""
    async with runtime.db.transaction() as session:
        yield session


async def reader(runtime: Rt) -> AsyncIterator[AsyncSession]:
    async with runtime.db.read() as session:
        yield session


async def policy_of(runtime: Rt) -> Policy:
    policy: Policy = runtime.state["policy"]
    return policy


@dataclass(frozen=True)
class LeaseDesk:
    """What the lease endpoints work with, handed to a caller holding the write scope."""

    leases: LeaseStore
    policy: Policy
    runtime: Runtime


def lease_desk(request: Request) -> LeaseDesk:
    """What a caller holding the write scope works with; raises for any other caller.

    The lease routes call it themselves and read their bodies themselves: on the scrapers'
    hot path FastAPI's resolution of dependencies and body fields costs more CPU than the
    lease itself (the routes still declare their bodies for the OpenAPI description).
    """
    settings: CommonSettings = request.app.state.settings
    caller_for(settings, request.headers.get("authorization"), "write")
    runtime: Runtime = request.app.state.runtime
    return LeaseDesk(runtime.state["leases"], runtime.state["policy"], runtime)


ModelT = TypeVar("ModelT", bound=BaseModel)


async def json_body(request: Request, model: type[ModelT]) -> ModelT:
    """The request's JSON body as ``model``; invalid input is refused as FastAPI would."""
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from exc


def documented_body(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI description of a JSON body that a route reads with :func:`json_body`."""
    schema = {"application/json": {"schema": model.model_json_schema()}}
    return {"requestBody": {"required": True, "content": schema}}


Tx = Annotated[AsyncSession, Depends(unit_of_work, scope="function")]
Read = Annotated[AsyncSession, Depends(reader, scope="function")]
Pol = Annotated[Policy, Depends(policy_of)]

STALE: dict[int | str, dict[str, Any]] = {
    409: {"description": "the token names no live lease (expired, released or unknown)"}
}
INVALID: dict[int | str, dict[str, Any]] = {422: {"description": "the body is not valid"}}


@router.post(
    "/leases",
    response_model=LeaseOut,
    responses={204: {"description": "nothing is due"}, **INVALID},
    summary="Lease the next store to scrape",
    openapi_extra=documented_body(LeaseRequest),
)
async def lease(request: Request) -> Response:
    desk = lease_desk(request)
    ask = await json_body(request, LeaseRequest)
    leases, policy = desk.leases, desk.policy
    granted = await service.grant_lease(leases, policy, ask.worker_id, ask.companies)
    if granted is None and await _reclaim(desk.runtime, policy):
        granted = await service.grant_lease(leases, policy, ask.worker_id, ask.companies)
    if granted is None:
        return Response(status_code=204)
    lease = LeaseOut(
        token=granted.token,
        expires_at=granted.expires_at,
        kind=granted.kind,
        reason=granted.reason,
        spot_rotation=granted.spot_rotation,
        store={
            "company": granted.company,
            "store_id": granted.store_id,
            "retailer_store_id": granted.retailer_store_id,
            "name": granted.name,
            "state": granted.state,
        },
    )
    return _answer(lease)


async def _reclaim(runtime: Runtime, policy: Policy) -> int:
    """Nothing was due: expired leases may be holding their companies' slots."""
    async with runtime.db.transaction() as session:
        reclaimed: int = await service.reclaim_expired(session, policy)
    return reclaimed


@router.post("/leases/{token}/heartbeat", response_model=HeartbeatOut, responses=STALE)
async def heartbeat(token: str, request: Request) -> Response:
    desk = lease_desk(request)
    expires = await service.heartbeat(desk.leases, desk.policy, token)
    return _answer(HeartbeatOut(token=token, expires_at=expires))


@router.post("/leases/{token}/complete", response_model=ReleaseOut, responses=STALE)
async def complete(token: str, request: Request) -> Response:
    desk = lease_desk(request)
    return _released(await service.complete(desk.leases, desk.policy, token))


@router.post(
    "/leases/{token}/fail",
    response_model=ReleaseOut,
    responses={**STALE, **INVALID},
    openapi_extra=documented_body(FailRequest),
)
async def fail(token: str, request: Request) -> Response:
    desk = lease_desk(request)
    body = await json_body(request, FailRequest)
    released = await service.fail(desk.leases, desk.policy, token, body.error, body.retryable)
    return _released(released)


def _released(released: service.Released) -> Response:
    return _answer(ReleaseOut.model_validate(released, from_attributes=True))


def _answer(model: BaseModel) -> Response:
    # Sent as built: returning the model would have FastAPI validate it again before
    # serialising it (``response_model`` still documents the answer).
    return Response(model.model_dump_json(), media_type="application/json")


class LeaseLane:
    """ASGI middleware: the scrapers' lease routes straight to their endpoints.

    FastAPI's routing and request machinery costs several times the CPU of these endpoints,
    which need none of it (they authenticate and read their bodies themselves). The lane
    calls the very endpoints the router declares (and documents), and renders their errors
    with the app's own handlers; any other request goes on to the app.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = _lease_endpoint(scope)
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await endpoint(request)
        except Exception as exc:
            response = await _rendered(request, exc)
        await response(scope, receive, send)


Endpoint = Callable[[Request], Awaitable[Response]]
_LEASES = f"{router.prefix}/leases"
_ON_LEASE: dict[str, Callable[[str, Request], Awaitable[Response]]] = {
    "heartbeat": heartbeat,
    "complete": complete,
    "fail": fail,
}


def _lease_endpoint(scope: Scope) -> Endpoint | None:
    """The endpoint of a lease route, bound to its token; None for any other request (and
    for every request to an app mounted under a prefix: the router matches those)."""
    if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
        return None
    path: str = scope["path"]
    if path == _LEASES:
        return lease
    token, _, action = path.removeprefix(f"{_LEASES}/").partition("/")
    on_lease = _ON_LEASE.get(action)
    if on_lease is None or not token or not path.startswith(f"{_LEASES}/"):
        return None
    return partial(on_lease, token)


async def _rendered(request: Request, exc: Exception) -> Response:
    """``exc`` rendered by the app's handler for it (the one error model), or raised on."""
    handlers: Mapping[Any, Callable[[Request, Exception], Any]] = request.app.exception_handlers
    for kind in type(exc).__mro__:
        handler = handlers.get(kind)
        if handler is not None:
            answer = handler(request, exc)
            response: Response = await answer if inspect.isawaitable(answer) else answer
            return response
    raise exc


@router.get("/queue", response_model=QueueOut, summary="What would be handed out next, and why")
async def queue(
    session: Read,
    company: Company | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> QueueOut:
    entries = await service.upcoming(session, company, limit)
    items = [QueueItem.model_validate(e, from_attributes=True) for e in entries]
    return QueueOut(generated_at=clock.now(), items=items)


@router.get("/stores/{company}/{store_id:path}", response_model=StoreView)
async def store(company: Company, store_id: str, session: Read, policy: Pol) -> StoreView:
    row, planned = await service.store_detail(session, policy, company, store_id)
    return _store_view(row, planned)


@router.post("/stores/{company}/{store_id:path}/rescrape", response_model=StoreView)
async def rescrape(
    _: Writer,
    company: Company,
    store_id: str,
    session: Tx,
    policy: Pol,
    reason: Annotated[str, Body(embed=True, min_length=1, max_length=32)] = "manual",
) -> StoreView:
    """Ask for a full scrape of the store ahead of everything else."""
    if (
        await service.request_rescrape(session, policy, company, store_id, reason, clock.now())
        is None
    ):
        raise NotFound("unknown store", company=company, store_id=store_id)
    row, planned = await service.store_detail(session, policy, company, store_id)
    return _store_view(row, planned)


@router.get("/stats", response_model=StatsOut, summary="Due work per company and reason; leases")
async def stats(session: Read) -> StatsOut:
    result = await service.stats(session)
    metrics.publish(result)
    return StatsOut(
        generated_at=clock.now(),
        due=[{"company": c, "reason": r, "stores": n} for c, r, n in result.due],
        leases=[{"company": c, "live": n, "cap": cap} for c, n, cap in result.leases],
    )


def _at(value: Any) -> Any:
    return utc(value) if value is not None else None


def _store_view(row: Mapping[str, Any], planned: service.Plan | None) -> StoreView:
    fields = {name: row[name] for name in StoreView.model_fields if name in row}
    fields = {
        k: _at(v) if k.endswith("_at") or k == "retry_after" else v for k, v in fields.items()
    }
    return StoreView(**fields, lease=_lease_view(row), next=_next_view(row, planned))


def _lease_view(row: Mapping[str, Any]) -> LeaseView | None:
    if row["lease_token"] is None:
        return None
    expires = _at(row["lease_expires_at"])
    return LeaseView(
        holder=row["lease_holder"],
        kind=row["lease_kind"],
        reason=row["lease_reason"],
        granted_at=_at(row["lease_granted_at"]),
        expires_at=expires,
        heartbeat_at=_at(row["lease_heartbeat_at"]),
        live=expires is not None and expires > clock.now(),
    )


def _next_view(row: Mapping[str, Any], planned: service.Plan | None) -> NextView | None:
    if planned is None:
        return None
    return NextView(
        kind=planned.kind,
        reason=planned.reason,
        due_at=planned.due_at,
        ready_at=_at(row["ready_at"]),
    )
