"""Settings of the grouper service (environment prefix ``SPLITCART_``)."""

from __future__ import annotations

from splitcart_shared.settings import CommonSettings


class GrouperSettings(CommonSettings):
    """Everything the grouper service reads from the environment."""


def get_settings() -> GrouperSettings:
    return GrouperSettings()
