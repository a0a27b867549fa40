"""Event schemas: the common envelope and one payload model per event of SPEC section 4.

Every event travels as JSON: ``{"event_id", "event_type", "schema_version", "occurred_at",
"producer", "payload"}``. Large product lists (a catalogue of 30,000 products) travel
compressed inside the payload (:class:`CompressedProducts`), so a ``store.scraped`` event
stays a few hundred kilobytes.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any, ClassVar, Literal

import orjson
import zstandard
from pydantic import BaseModel, ConfigDict, Field, field_validator

from splitcart_shared.clock import clock

Company = Literal["coles", "woolworths", "aldi", "iga"]
COMPANIES: tuple[Company, ...] = ("coles", "woolworths", "aldi", "iga")
ScrapeKind = Literal["full", "spot"]


class NormalisedProduct(BaseModel):
    """One product of one store's catalogue as every adapter produces it (SPEC 5a)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sku: str
    name: str
    brand: str | None = None
    size: str | None = None
    barcode: str | None = None
    category_path: list[str] = Field(default_factory=list)
    price_cents: int | None = None
    was_price_cents: int | None = None
    unit_price_cents: int | None = None
    unit_measure: str | None = None
    on_special: bool = False
    available: bool = True
    url: str | None = None
    image_url: str | None = None

    @field_validator("sku")
    @classmethod
    def _sku_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("sku must not be blank")
        return value


PRODUCT_FIELDS: tuple[str, ...] = tuple(NormalisedProduct.model_fields)
"""The normalised product's fields, in order (adapters' dicts, ingest's staging columns)."""

_ZSTD_LEVEL = 3


class CompressedProducts(BaseModel):
    """A list of normalised products as zstd-compressed NDJSON, base64 encoded."""

    model_config = ConfigDict(extra="forbid")

    encoding: Literal["zstd+ndjson+base64"] = "zstd+ndjson+base64"
    count: int
    data: str

    @classmethod
    def pack(cls, products: list[NormalisedProduct] | list[dict[str, Any]]) -> CompressedProducts:
        rows = [p.model_dump() if isinstance(p, BaseModel) else p for p in products]
        raw = b"\n".join(orjson.dumps(r) for r in rows)
        blob = zstandard.ZstdCompressor(level=_ZSTD_LEVEL).compress(raw)
        return cls(count=len(rows), data=base64.b64encode(blob).decode("ascii"))

    def raw_rows(self) -> list[dict[str, Any]]:
        """Decompress to plain dicts (fast path for bulk ingest)."""
        blob = zstandard.ZstdDecompressor().decompress(base64.b64decode(self.data))
        rows = [orjson.loads(line) for line in blob.split(b"\n") if line]
        if len(rows) != self.count:
            raise ValueError(f"compressed products hold {len(rows)} rows, header says {self.count}")
        return rows

    def unpack(self) -> list[NormalisedProduct]:
        return [NormalisedProduct.model_validate(r) for r in self.raw_rows()]


# --- payloads ---------------------------------------------------------------------------


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1


class StoreRecord(BaseModel):
    """One store as a store-locator sweep saw it."""

    model_config = ConfigDict(extra="forbid")

    store_id: str  # the chain's own id: "COL:858", "1275", "G102", IGA storeId
    name: str
    division: str  # banner, e.g. "Coles Supermarkets", "Liquorland", "SUPERMARKETS", "METRO"
    address: str | None = None
    suburb: str | None = None
    state: str | None = None
    postcode: str | None = None
    latitude: float | None = None  # None when the retailer says "0" or nothing
    longitude: float | None = None
    scrapable: bool = True  # IGA stores without an online shop are not
    retailer_store_id: str | None = None  # IGA online shop id (cookie iga-shop.retailerStoreId)


class StoresDiscovered(Payload):
    event_type: ClassVar[str] = "stores.discovered"
    company: Company
    swept_at: datetime
    complete: bool = True  # a complete sweep lets ingest close stores it no longer lists
    stores: list[StoreRecord]


class StoreScraped(Payload):
    event_type: ClassVar[str] = "store.scraped"
    company: Company
    lease_token: str | None = None
    requested_store_id: str
    served_store_id: str | None
    scraped_at: datetime
    kind: ScrapeKind
    expected_count: int | None = None  # the retailer's own total for what was paged
    categories_scraped: list[str] = Field(default_factory=list)
    complete: bool = True  # False: the scraper knows it is truncated
    requests_made: int = 0
    products: CompressedProducts


class EnrichedBarcode(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str
    barcode: str


class ProductsEnriched(Payload):
    event_type: ClassVar[str] = "products.enriched"
    company: Company
    barcodes: list[EnrichedBarcode]


class StoreIngested(Payload):
    event_type: ClassVar[str] = "store.ingested"
    company: Company
    store_id: str
    kind: ScrapeKind
    scraped_at: datetime
    lease_token: str | None = None
    source_event_id: uuid.UUID
    products: int
    new_products: int
    changed_prices: int
    delisted: int


RejectReason = Literal[
    "served_store_mismatch", "malformed", "truncated", "stale_lease", "unknown_store"
]


class ScrapeRejected(Payload):
    event_type: ClassVar[str] = "scrape.rejected"
    company: Company
    store_id: str
    lease_token: str | None = None
    source_event_id: uuid.UUID
    reason: RejectReason
    detail: str


class OverlapEvidence(BaseModel):
    """What a comparison of two stores found (SPEC glossary: True Overlap)."""

    model_config = ConfigDict(extra="forbid")
    store_a: str
    store_b: str
    compared: int
    mismatches: int
    true_overlap: float | None
    range_overlap: float | None
    matched: bool


class GroupMerged(Payload):
    event_type: ClassVar[str] = "group.merged"
    company: Company
    into_group_id: str
    from_group_id: str
    anchor_store_id: str
    moved_store_ids: list[str]
    evidence: OverlapEvidence


class StoreEjected(Payload):
    event_type: ClassVar[str] = "store.ejected"
    company: Company
    store_id: str
    old_group_id: str
    new_group_id: str
    reason: Literal["mismatch", "anchor_rogue"]
    evidence: OverlapEvidence | None = None


class GroupAnchorChanged(Payload):
    event_type: ClassVar[str] = "group.anchor_changed"
    company: Company
    group_id: str
    old_anchor_store_id: str | None
    new_anchor_store_id: str
    member_store_ids: list[str] = Field(default_factory=list)


class GroupMemberConfirmed(Payload):
    """A health check found a member still pricing like its anchor (the scheduler uses it
    to stretch that member's check interval)."""

    event_type: ClassVar[str] = "group.member_confirmed"
    company: Company
    group_id: str
    store_id: str
    anchor_store_id: str
    consecutive_confirmations: int
    evidence: OverlapEvidence | None = None


class StoreRescrapeRequested(Payload):
    event_type: ClassVar[str] = "store.rescrape_requested"
    company: Company
    store_id: str
    reason: Literal["stale_anchor", "tie_break", "rehoming", "manual"]
    group_id: str | None = None


class ArchiveBuilt(Payload):
    event_type: ClassVar[str] = "archive.built"
    company: Company
    store_id: str | None  # None for the company archive
    path: str
    sha256: str
    bytes: int
    rows: int


PAYLOAD_TYPES: dict[str, type[Payload]] = {
    cls.event_type: cls
    for cls in (
        StoresDiscovered,
        StoreScraped,
        ProductsEnriched,
        StoreIngested,
        ScrapeRejected,
        GroupMerged,
        StoreEjected,
        GroupAnchorChanged,
        GroupMemberConfirmed,
        StoreRescrapeRequested,
        ArchiveBuilt,
    )
}
EVENT_TYPES: tuple[str, ...] = tuple(PAYLOAD_TYPES)


class UnknownEventType(ValueError):
    pass


class Envelope(BaseModel):
    """The common envelope of every event."""

    model_config = ConfigDict(extra="forbid")

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    event_type: str
    schema_version: int = 1
    occurred_at: datetime
    producer: str
    payload: dict[str, Any]

    @classmethod
    def wrap(cls, payload: Payload, producer: str, occurred_at: datetime | None = None) -> Envelope:
        return cls(
            event_type=payload.event_type,
            schema_version=payload.schema_version,
            occurred_at=occurred_at or clock.now(),
            producer=producer,
            payload=payload.model_dump(mode="json"),
        )

    def typed(self) -> Payload:
        """Validate the payload into its event's model; raises on unknown type or bad data."""
        model = PAYLOAD_TYPES.get(self.event_type)
        if model is None:
            raise UnknownEventType(f"unknown event type {self.event_type!r}")
        return model.model_validate(self.payload)

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_bytes(cls, body: bytes) -> Envelope:
        return cls.model_validate_json(body)
