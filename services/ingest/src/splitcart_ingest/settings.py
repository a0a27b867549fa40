"""Settings of the ingest service (environment prefix ``SPLITCART_``)."""

from __future__ import annotations

from pydantic import Field
from splitcart_shared.settings import CommonSettings


# The kernel ships no py.typed marker yet, so mypy sees CommonSettings as Any.
class IngestSettings(CommonSettings):  # type: ignore[misc, unused-ignore]
    """Everything the ingest service reads from the environment."""

    # Largest page of the price export and of list endpoints a client may ask for.
    ingest_max_page: int = Field(default=50_000, ge=100)
    # Rows the export reads per query while streaming.
    ingest_export_chunk: int = Field(default=5_000, ge=100)


def get_settings() -> IngestSettings:
    return IngestSettings()
