"""Where the retailers live and how politely we talk to them.

Bases default to the real sites; the real paths hang below them, so pointing a base at
``http://127.0.0.1:PORT/aldi`` sends ``…/aldi/v3/product-search`` to the offline sandbox.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from splitcart_shared.events import Company

BROWSER_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36"
)


class RetryPolicy(BaseModel):
    """Capped exponential backoff with jitter, shared by every request of one chain."""

    max_attempts: int = Field(default=5, ge=1)
    backoff_base: float = Field(default=0.5, ge=0)
    backoff_cap: float = Field(default=30.0, ge=0)
    # A Retry-After longer than this is not waited out: the lease would rot meanwhile.
    retry_after_cap: float = Field(default=120.0, ge=0)
    timeout: float = Field(default=30.0, gt=0)


class ScraperRetailerSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SPLITCART_", env_file=".env", extra="ignore", env_nested_delimiter="__"
    )

    coles_base_url: str = "https://www.coles.com.au"
    woolworths_base_url: str = "https://www.woolworths.com.au"
    aldi_base_url: str = "https://api.aldi.com.au"
    iga_base_url: str = "https://www.igashop.com.au"
    iga_locator_url: str = "https://embed.salefinder.com.au"

    # Requests per second per company and process; 0 switches the limiter off.
    coles_rps: float = Field(default=1.0, ge=0)
    woolworths_rps: float = Field(default=1.0, ge=0)
    aldi_rps: float = Field(default=2.0, ge=0)
    iga_rps: float = Field(default=2.0, ge=0)

    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    # Per-company replacements of ``retry``, e.g. {"coles": {"max_attempts": 3}}.
    retry_by_company: dict[Company, RetryPolicy] = Field(default_factory=dict)
    user_agent: str = BROWSER_USER_AGENT

    # Imported browser sessions. Woolworths: a logged-in session's cookies (needed to pick a
    # store). Coles: the Imperva cookie jar of a browser that passed the challenge. Either a
    # JSON object {"name": "value"} or a raw "a=1; b=2" Cookie header.
    woolworths_session_cookies: str | None = None
    coles_cookie_jar: str | None = None
    coles_subscription_key: str | None = None

    # Aldi's locator answers within 100 km of a point: a 1-degree grid covers the country.
    aldi_locator_grid_step: float = Field(default=1.0, gt=0)
    # Aldi's category tree is national: one fetch serves every scrape for this long (0: ask
    # for it on every scrape).
    aldi_tree_ttl_seconds: float = Field(default=3600.0, ge=0)

    def base_url(self, company: Company) -> str:
        return {
            "coles": self.coles_base_url,
            "woolworths": self.woolworths_base_url,
            "aldi": self.aldi_base_url,
            "iga": self.iga_base_url,
        }[company].rstrip("/")

    def retry_policy(self, company: Company) -> RetryPolicy:
        return self.retry_by_company.get(company, self.retry)

    def rps(self, company: Company) -> float:
        return {
            "coles": self.coles_rps,
            "woolworths": self.woolworths_rps,
            "aldi": self.aldi_rps,
            "iga": self.iga_rps,
        }[company]
