"""HTTP routes of the grouper: groups, store memberships, effective prices, comparisons
and the full regroup."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from splitcart_shared.auth import require
from splitcart_shared.clock import clock
from splitcart_shared.errors import NotFound
from splitcart_shared.events import Company
from splitcart_shared.runtime import Runtime, runtime_of
from sqlalchemy.ext.asyncio import AsyncSession

from splitcart_grouper import queries, repository, service
from splitcart_grouper.schemas import (
    Comparison,
    EffectivePricePage,
    GroupDetail,
    GroupPage,
    RegroupJob,
    Stats,
    StoreGroup,
)
from splitcart_grouper.settings import GrouperSettings

router = APIRouter(prefix="/v1", tags=["grouping"])

Offset = Annotated[int, Query(ge=0)]
RuntimeDep = Annotated[Runtime, Depends(runtime_of)]


async def read_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    async with runtime.db.read() as session:
        yield session


Session = Annotated[AsyncSession, Depends(read_session)]


def settings_of(runtime: Runtime) -> GrouperSettings:
    settings = runtime.settings
    assert isinstance(settings, GrouperSettings)
    return settings


@router.get("/stats", response_model=Stats)
async def stats(session: Session) -> Stats:
    """Per company: groups, grouped stores, and stores still waiting for a round (zero
    everywhere means the grouping has caught up with every ingest)."""
    return Stats.model_validate({"companies": await repository.counts_by_company(session)})


@router.get("/groups", response_model=GroupPage, summary="A company's groups, largest first")
async def list_groups(
    session: Session,
    runtime: RuntimeDep,
    company: Company,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    offset: Offset = 0,
) -> GroupPage:
    """Each group with its anchor, size and the anchor's freshness."""
    oldest = clock.now() - settings_of(runtime).grouping_params().freshness
    return await queries.list_groups(session, company, limit, offset, oldest)


@router.get("/groups/{group_id}", response_model=GroupDetail)
async def get_group(session: Session, group_id: str) -> GroupDetail:
    """A group's anchor and members, each with its latest comparison evidence."""
    return await queries.get_group(session, group_id)


@router.get("/stores/{company}/{store_id}/group", response_model=StoreGroup)
async def store_group(session: Session, company: Company, store_id: str) -> StoreGroup:
    """The group of a store named by the chain's own id."""
    return await queries.store_group(session, company, store_id)


@router.get("/stores/{company}/{store_id}/prices", response_model=EffectivePricePage)
async def store_prices(
    session: Session,
    runtime: RuntimeDep,
    company: Company,
    store_id: str,
    limit: Annotated[int | None, Query(ge=1)] = None,
    offset: Offset = 0,
) -> EffectivePricePage:
    """Effective prices: per product the store's own current price (`direct_scrape`)
    unless its anchor observed the product more recently, then the anchor's current price
    (`inferred_group`). Money as dollars with two decimals and as integer cents."""
    settings = settings_of(runtime)
    page = min(limit or settings.grouper_max_page, settings.grouper_max_page)
    oldest = clock.now() - settings.grouping_params().freshness
    return await queries.effective_prices(session, company, store_id, oldest, page, offset)


@router.get("/compare", response_model=Comparison)
async def compare(
    session: Session,
    runtime: RuntimeDep,
    company: Company,
    a: Annotated[str, Query(min_length=1, description="chain store id")],
    b: Annotated[str, Query(min_length=1, description="chain store id")],
) -> Comparison:
    """True Overlap of two stores of one company now, with the mismatching products."""
    params = settings_of(runtime).grouping_params()
    return await queries.compare(session, company, a, b, clock.now(), params)


@router.post("/regroup", response_model=RegroupJob, status_code=202)
async def start_regroup(
    runtime: RuntimeDep,
    company: Company,
    caller: Annotated[str, Depends(require("write"))],
) -> RegroupJob:
    """Re-analyse a company from scratch in the background; follow `GET /v1/regroup/{job}`."""
    return RegroupJob.model_validate(await service.start_regroup(runtime, company, caller))


@router.get("/regroup/{job_id}", response_model=RegroupJob)
async def regroup_job(session: Session, job_id: str) -> RegroupJob:
    """A regroup job's status and progress."""
    row = await repository.job(session, job_id)
    if row is None:
        raise NotFound(f"no regroup job {job_id!r}", job_id=job_id)
    return RegroupJob.model_validate(row)
