"""Settings of the archiver service (environment prefix ``SPLITCART_``)."""

from __future__ import annotations

from splitcart_shared.settings import CommonSettings


class ArchiverSettings(CommonSettings):
    """Everything the archiver service reads from the environment."""


def get_settings() -> ArchiverSettings:
    return ArchiverSettings()
