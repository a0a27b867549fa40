"""Settings of the grouper service (environment prefix ``SPLITCART_``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field
from splitcart_shared.settings import CommonSettings

from splitcart_grouper.engine import GroupingParams


# The kernel ships no py.typed marker yet, so mypy sees CommonSettings as Any.
class GrouperSettings(CommonSettings):  # type: ignore[misc, unused-ignore]
    """Everything the grouper service reads from the environment."""

    # The SPEC glossary thresholds (names shared with the other services).
    freshness_hours: float = Field(default=72.0, gt=0)
    pairing_window_hours: float = Field(default=48.0, gt=0)
    match_threshold: float = Field(default=0.98, ge=0, le=1)
    min_shared: int = Field(default=100, ge=1)
    min_range_overlap: float = Field(default=0.80, ge=0, le=1)

    # The background round worker: off in tests that drive rounds with ``run_round``.
    grouper_worker_enabled: bool = True
    # Debounce: a company's round runs this long after the worker last looked ...
    grouper_round_interval_seconds: float = Field(default=1.0, gt=0)
    # ... or as soon as this many of its stores are dirty.
    grouper_round_batch: int = Field(default=200, ge=1)
    # "touched" compares only pairs involving an anchor whose data or group changed this
    # round: enough after a fixed point, and what keeps rounds cheap for a chain of ~900
    # independent stores. "all" compares every pair of current anchors every round (a
    # first round with new stores always does; POST /v1/regroup is the exhaustive path).
    grouper_merge_scope: Literal["all", "touched"] = "touched"
    # Largest page of effective prices the API returns.
    grouper_max_page: int = Field(default=50_000, ge=100)

    def grouping_params(self) -> GroupingParams:
        return GroupingParams(
            freshness=timedelta(hours=self.freshness_hours),
            pairing_window=timedelta(hours=self.pairing_window_hours),
            match_threshold=self.match_threshold,
            min_shared=self.min_shared,
            min_range_overlap=self.min_range_overlap,
        )


def get_settings() -> GrouperSettings:
    return GrouperSettings()
