"""API models. Money leaves as dollars with two decimals (``"3.50"``) next to its cents."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from splitcart_shared.clock import utc
from splitcart_shared.events import Company

Timestamp = Annotated[datetime, AfterValidator(utc)]
Dollars = Annotated[
    str | None, Field(description="dollars with two decimals, e.g. '3.50'", examples=["3.50"])
]
Role = Literal["anchor", "member"]


def dollars(cents: int | None) -> str | None:
    """Exact: integer arithmetic on cents, never a float."""
    if cents is None:
        return None
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d}"


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class EvidenceOut(_Out):
    store_a: str
    store_b: str
    group_id: str | None
    decided_at: Timestamp
    compared: int
    mismatches: int
    exact: bool = Field(description="false: `mismatches` is a lower bound (stopped early)")
    true_overlap: float | None
    range_overlap: float | None
    decision: str
    matched: bool


class GroupSummary(_Out):
    id: str
    company: Company
    anchor_store_id: str
    size: int
    anchor_last_scraped_at: Timestamp | None = Field(
        description="when the anchor's latest scrape was taken"
    )
    anchor_fresh: bool = Field(description="the anchor's data is within the freshness window")
    created_at: Timestamp
    updated_at: Timestamp


class GroupPage(BaseModel):
    groups: list[GroupSummary]
    total: int
    limit: int
    offset: int
    next_offset: int | None


class MemberOut(_Out):
    store_id: str
    role: Role
    joined_at: Timestamp
    last_confirmed_at: Timestamp | None
    consecutive_confirmations: int
    last_scraped_at: Timestamp | None
    last_evidence: EvidenceOut | None


class GroupDetail(_Out):
    id: str
    company: Company
    anchor_store_id: str
    size: int
    created_at: Timestamp
    updated_at: Timestamp
    members: list[MemberOut]


class StoreGroup(_Out):
    company: Company
    store_id: str
    group_id: str
    role: Role
    anchor_store_id: str
    size: int
    joined_at: Timestamp
    last_confirmed_at: Timestamp | None
    consecutive_confirmations: int
    last_evidence: EvidenceOut | None


class EffectivePrice(BaseModel):
    product_id: int
    sku: str
    name: str
    brand: str | None
    size: str | None
    source: Literal["direct_scrape", "inferred_group"]
    from_store_id: str = Field(description="the store whose observation this is")
    price: Dollars
    price_cents: int
    was_price: Dollars
    was_price_cents: int | None
    unit_price: Dollars
    unit_price_cents: int | None
    unit_measure: str | None
    on_special: bool
    available: bool
    observed_at: Timestamp


class EffectivePricePage(BaseModel):
    company: Company
    store_id: str
    group_id: str | None
    anchor_store_id: str
    direct: int = Field(description="products priced from the store's own current data")
    inferred: int = Field(description="products priced from its anchor's current data")
    prices: list[EffectivePrice]
    total: int
    limit: int
    offset: int
    next_offset: int | None


class PricePair(BaseModel):
    product_id: int
    sku: str
    name: str
    price_a: Dollars
    price_a_cents: int
    price_b: Dollars
    price_b_cents: int
    observed_a: Timestamp
    observed_b: Timestamp


class Comparison(BaseModel):
    company: Company
    a: str
    b: str
    current_a: int = Field(description="current products of a")
    current_b: int = Field(description="current products of b")
    compared: int = Field(description="shared current products observed within the pairing window")
    mismatches: int
    true_overlap: float | None
    range_overlap: float | None
    matched: bool
    mismatching: list[PricePair] = Field(description="the mismatching products, by product id")


class RegroupJob(_Out):
    id: str
    company: Company
    status: Literal["queued", "running", "done", "failed"]
    phase: str
    progress: float = Field(description="0..1 through the comparing phase")
    stores: int | None
    groups: int | None
    requested_by: str | None
    error: str | None
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None


class CompanyStats(BaseModel):
    groups: int
    stores: int = Field(description="stores in a group")
    dirty: int = Field(description="stores ingested or discovered since the last round")


class Stats(BaseModel):
    companies: dict[str, CompanyStats]
