"""Request and response models of the scheduler's HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from splitcart_shared.events import Company

Kind = Literal["full", "spot"]
Reason = Literal[
    "rescrape_requested", "never_scraped", "new_store_probe", "anchor_refresh", "member_check"
]


class LeaseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    worker_id: str = Field(min_length=1, max_length=128, description="the scraper asking")
    companies: list[Company] | None = Field(
        None, min_length=1, description="only these companies (default: any)"
    )


class LeasedStore(BaseModel):
    company: Company
    store_id: str = Field(description="the chain's own store id")
    retailer_store_id: str | None = Field(description="IGA online shop id; null elsewhere")
    name: str
    state: str | None


class LeaseOut(BaseModel):
    token: str
    expires_at: datetime
    kind: Kind = Field(description="full: whole catalogue; spot: rotating category sample")
    reason: Reason = Field(description="why this store was handed out")
    spot_rotation: int = Field(
        description="ordinal of this spot check of the store (rotate the category sample by it)"
    )
    store: LeasedStore


class HeartbeatOut(BaseModel):
    token: str
    expires_at: datetime


class FailRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    error: str = Field(min_length=1, max_length=2000)
    retryable: bool = True


class ReleaseOut(BaseModel):
    token: str
    company: Company
    store_id: str
    outcome: Literal["completed", "failed"]
    retry_after: datetime | None = Field(description="not handed out again before this")


class QueueItem(BaseModel):
    company: Company
    store_id: str
    name: str
    kind: Kind
    reason: Reason
    ready_since: datetime
    attempts: int = Field(description="consecutive failed attempts")
    reclaim: bool = Field(description="its previous lease expired unfinished")


class QueueOut(BaseModel):
    generated_at: datetime
    items: list[QueueItem]


class LeaseView(BaseModel):
    holder: str | None
    kind: Kind | None
    reason: str | None
    granted_at: datetime | None
    expires_at: datetime | None
    heartbeat_at: datetime | None
    live: bool


class NextView(BaseModel):
    kind: Kind
    reason: Reason
    due_at: datetime
    ready_at: datetime | None = Field(description="after backoff and any lease")


class StoreView(BaseModel):
    company: Company
    store_id: str
    retailer_store_id: str | None
    name: str
    state: str | None
    scrapable: bool
    closed_at: datetime | None
    role: Literal["anchor", "member", "alone"]
    group_id: str | None
    discovered_at: datetime
    last_scraped_at: datetime | None = Field(description="last full scrape ingested")
    last_spot_at: datetime | None = Field(description="last spot check ingested")
    last_completed_at: datetime | None = Field(description="last lease completed")
    last_confirmed_at: datetime | None
    consecutive_confirmations: int
    rescrape_requested_at: datetime | None
    rescrape_reason: str | None
    lease: LeaseView | None
    spot_rotation: int
    attempts: int
    retry_after: datetime | None
    last_error: str | None
    next: NextView | None = Field(description="null: never handed out (closed/not scrapable)")


class DueCount(BaseModel):
    company: Company
    reason: Reason
    stores: int


class LeaseCount(BaseModel):
    company: str
    live: int
    cap: int


class StatsOut(BaseModel):
    generated_at: datetime
    due: list[DueCount]
    leases: list[LeaseCount]
