"""Settings of the scheduler service (environment prefix ``SPLITCART_``)."""

from __future__ import annotations

from pydantic import Field
from splitcart_shared.settings import CommonSettings

DEFAULT_COMPANY_CAP = 4


class SchedulerSettings(CommonSettings):
    """Everything the scheduler service reads from the environment."""

    anchor_refresh_hours: float = Field(24.0, ge=0)
    # A store alone in its group stands for itself only: its full scrape buys one store's
    # accuracy, an anchor's buys its whole group's. Longer than ``anchor_refresh`` trades
    # some of that store's accuracy for requests.
    alone_refresh_hours: float = Field(24.0, ge=0)
    # The weekday (0 = Monday) the chains' weekly specials roll over: every anchor and
    # store alone whose last full scrape predates the latest rollover is due at once.
    price_rollover_weekday: int | None = Field(2, ge=0, le=6)
    member_check_days: float = Field(7.0, ge=0)
    member_check_max_days: float = Field(28.0, ge=0)
    lease_ttl_seconds: float = Field(300.0, gt=0)
    lease_max_hours: float = Field(4.0, gt=0)
    # Concurrent leases per company; companies not listed get ``company_lease_cap_default``.
    company_lease_cap: dict[str, int] = Field(
        default_factory=lambda: {"coles": 4, "woolworths": 4, "aldi": 4, "iga": 4}
    )
    company_lease_cap_default: int = Field(DEFAULT_COMPANY_CAP, ge=0)
    failure_backoff_base_seconds: float = Field(60.0, ge=0)
    failure_backoff_cap_seconds: float = Field(6 * 3600.0, ge=0)
    # A never-scraped store of a company that has data gets a spot check first; alone after
    # it, it gets a full scrape once this grace (for grouping to place it) has passed.
    probe_new_stores: bool = True
    probe_grace_hours: float = Field(2.0, ge=0)
    # Probing goes on after this many scraped stores only if this share became members.
    probe_trial_stores: int = Field(10, ge=1)
    probe_min_member_share: float = Field(0.3, ge=0, le=1)
    # Connections of the lease hot path on Postgres (asyncpg, apart from the ORM's pool).
    lease_pool_size: int = Field(20, ge=1)
    # How often (wall-clock) expired leases are swept and the due-work gauges refreshed.
    maintenance_interval_seconds: float = Field(15.0, gt=0)

    def cap_for(self, company: str) -> int:
        return self.company_lease_cap.get(company, self.company_lease_cap_default)


def get_settings() -> SchedulerSettings:
    return SchedulerSettings()
