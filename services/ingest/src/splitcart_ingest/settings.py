"""Settings of the ingest service (environment prefix ``SPLITCART_``)."""

from __future__ import annotations

from splitcart_shared.settings import CommonSettings


class IngestSettings(CommonSettings):
    """Everything the ingest service reads from the environment."""


def get_settings() -> IngestSettings:
    return IngestSettings()
