"""Typed settings. Every service composes its settings class from :class:`CommonSettings`.

Everything comes from the environment (prefix ``SPLITCART_``) or a ``.env`` file; code never
reads ``os.environ`` itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Scope = Literal["read", "write"]


class ApiToken(BaseModel):
    """A bearer token one calling service presents, with what it may do."""

    token: str = Field(min_length=16)
    scopes: list[Scope] = Field(default_factory=lambda: list[Scope](["read", "write"]))


class CommonSettings(BaseSettings):
    """What every splitcart process needs: where the database and broker are, and auth."""

    model_config = SettingsConfigDict(
        env_prefix="SPLITCART_", env_file=".env", extra="ignore", env_nested_delimiter="__"
    )

    database_url: str = "sqlite+aiosqlite:///./var/splitcart.db"
    amqp_url: str | None = None
    exchange: str = "splitcart.events"
    queue_prefix: str = "splitcart"
    var_dir: Path = Path("./var")

    # Auth: callers (by service name) -> their token. Switched off only explicitly, and only
    # in embedded mode.
    api_tokens: dict[str, ApiToken] = Field(default_factory=dict)
    auth_disabled: bool = False
    # The token this process presents when it calls another service's API.
    service_token: str | None = None

    scheduler_url: str = "http://127.0.0.1:8000/scheduler"
    ingest_url: str = "http://127.0.0.1:8000/ingest"
    grouper_url: str = "http://127.0.0.1:8000/grouper"
    archiver_url: str = "http://127.0.0.1:8000/archiver"

    # Follow a simulated clock served over HTTP (the sandbox's /admin/clock) instead of
    # the system clock: how a multi-process simulation shares one notion of time.
    clock_url: str | None = None

    log_level: str = "INFO"
    log_json: bool = True

    # Messaging
    relay_batch: int = 500
    # Events published for outside subscribers only: no bound queue is not an error.
    feed_events: frozenset[str] = frozenset({"archive.built"})
    relay_idle_seconds: float = 0.2
    consumer_prefetch: int = 200
    consumer_batch: int = 100
    consumer_workers: int = 2
    consumer_max_attempts: int = 5
    consumer_backoff_base: float = 0.05
    consumer_backoff_cap: float = 2.0

    @property
    def embedded(self) -> bool:
        return self.amqp_url is None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @model_validator(mode="after")
    def _no_unsafe_defaults(self) -> CommonSettings:
        if self.auth_disabled and not self.embedded:
            raise ValueError(
                "SPLITCART_AUTH_DISABLED is allowed only in embedded mode "
                "(SPLITCART_AMQP_URL unset); configure SPLITCART_API_TOKENS instead"
            )
        return self

    def require_tokens(self) -> None:
        """Distributed processes refuse to start without tokens (unsafe default)."""
        if not self.embedded and not self.auth_disabled and not self.api_tokens:
            raise RuntimeError(
                "distributed mode needs SPLITCART_API_TOKENS "
                '(e.g. {"scraper": {"token": "...", "scopes": ["read", "write"]}})'
            )
