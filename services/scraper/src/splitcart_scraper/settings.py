"""Settings of the scraper service (environment prefix ``SPLITCART_``)."""

from __future__ import annotations

from splitcart_shared.settings import CommonSettings


class ScraperSettings(CommonSettings):
    """Everything the scraper service reads from the environment."""


def get_settings() -> ScraperSettings:
    return ScraperSettings()
