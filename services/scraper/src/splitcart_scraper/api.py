"""The scraper's own read-only API: what its workers have done."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from splitcart_shared.runtime import Runtime, runtime_of

router = APIRouter(prefix="/v1", tags=["scraper"])


@router.get("/stats", summary="Scrapes and retailer requests of this process's workers")
async def stats(runtime: Annotated[Runtime, Depends(runtime_of)]) -> dict[str, Any]:
    worker = runtime.state.get("worker")
    if worker is None:
        return {"worker": None, "scrapes": {}, "requests": {}, "full_scrape_requests": {}}
    return dict(worker.stats())
