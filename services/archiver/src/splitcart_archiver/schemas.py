"""API models of the archiver."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from splitcart_archiver.models import COMPANY_ARCHIVE


class ManifestEntry(BaseModel):
    """One archive file: where it is (relative to the archive root) and what it holds."""

    path: str = Field(examples=["store_data/coles/COL_858.json"])
    company: str
    store_id: str | None = Field(description="the chain's store id; null for a company archive")
    sha256: str = Field(description="hex digest of the file; also its ETag")
    bytes: int
    products: int = Field(description="products in a store archive, stores in a company archive")
    generated_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ManifestEntry:
        values = dict(row)
        values["store_id"] = None if row["store_id"] == COMPANY_ARCHIVE else row["store_id"]
        return cls.model_validate(values)


class Manifest(BaseModel):
    archives: list[ManifestEntry]
