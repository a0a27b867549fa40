"""Settings of the archiver service (environment prefix ``SPLITCART_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from splitcart_shared.settings import CommonSettings


class ArchiverSettings(CommonSettings):
    """Everything the archiver service reads from the environment."""

    # Where ``company_data/`` and ``store_data/`` are written (SPLITCART_ARCHIVE_ROOT).
    archive_root: Path = Path("./var/archives")
    # The background builder; tests and simulations switch it off and call build_pending().
    archive_worker: bool = True
    # A marked archive is rebuilt once no new mark arrived for this long (clock time) ...
    archive_debounce_seconds: float = Field(default=60.0, ge=0)
    # ... or at the latest this long after its first mark.
    archive_max_delay_seconds: float = Field(default=900.0, ge=0)
    # Archives built per batch (one manifest transaction and relay kick per file).
    archive_batch: int = Field(default=50, ge=1)
    # Wall-clock pause of the worker between looks at the dirty list.
    archive_poll_seconds: float = Field(default=2.0, gt=0)
    # Products per read while streaming a store's history (SQLite chunks, Postgres fetches).
    archive_chunk: int = Field(default=2_000, ge=10)


def get_settings() -> ArchiverSettings:
    return ArchiverSettings()
