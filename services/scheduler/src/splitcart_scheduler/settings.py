"""Settings of the scheduler service (environment prefix ``SPLITCART_``)."""

from __future__ import annotations

from splitcart_shared.settings import CommonSettings


class SchedulerSettings(CommonSettings):
    """Everything the scheduler service reads from the environment."""


def get_settings() -> SchedulerSettings:
    return SchedulerSettings()
