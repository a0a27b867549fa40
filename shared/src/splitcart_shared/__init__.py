"""splitcart shared kernel: what every service uses."""

from splitcart_shared.auth import bearer_headers, caller_for, require
from splitcart_shared.bus import (
    Bus,
    InProcessBus,
    PoisonMessage,
    RabbitBus,
    RetryPolicy,
    Subscription,
    Unroutable,
    topic_matches,
)
from splitcart_shared.clock import SimulatedClock, SystemClock, clock, use_clock, utc
from splitcart_shared.db import SCHEMAS, Database, naming_metadata
from splitcart_shared.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    Unauthorized,
    Unavailable,
)
from splitcart_shared.events import (
    COMPANIES,
    CompressedProducts,
    Envelope,
    NormalisedProduct,
    Payload,
)
from splitcart_shared.logging import configure_logging, get_logger
from splitcart_shared.outbox import MessagingTables, Outbox, messaging_tables
from splitcart_shared.relay import OutboxRelay
from splitcart_shared.runtime import (
    Runtime,
    ServiceDefinition,
    create_service_app,
    run_service,
    runtime_of,
)
from splitcart_shared.settings import ApiToken, CommonSettings

__all__ = [
    "COMPANIES",
    "SCHEMAS",
    "ApiToken",
    "Bus",
    "CommonSettings",
    "CompressedProducts",
    "Conflict",
    "Database",
    "DomainError",
    "Envelope",
    "Forbidden",
    "InProcessBus",
    "MessagingTables",
    "NormalisedProduct",
    "NotFound",
    "Outbox",
    "OutboxRelay",
    "Payload",
    "PoisonMessage",
    "RabbitBus",
    "RetryPolicy",
    "Runtime",
    "ServiceDefinition",
    "SimulatedClock",
    "Subscription",
    "SystemClock",
    "Unauthorized",
    "Unavailable",
    "Unroutable",
    "bearer_headers",
    "caller_for",
    "clock",
    "configure_logging",
    "create_service_app",
    "get_logger",
    "messaging_tables",
    "naming_metadata",
    "require",
    "run_service",
    "runtime_of",
    "topic_matches",
    "use_clock",
    "utc",
]
